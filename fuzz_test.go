package rtbroadcaster_test

import (
	"reflect"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster"
)

// FuzzDecodeMessage feeds arbitrary frames to the decoder: it must never
// panic, and whatever it accepts must survive the server's own encoding
// unchanged, with funcParams an array.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		seedCreate, seedJoin, seedBroadcast, seedState, seedClose,
		`{"uuid":"x","status":{"value":3},"funcKey":"k","funcParams":["a"],"stateMessage":true,"stateKey":"s"}`,
		`{"status":{"value":"1"}}`, `[1]`, `null`, ``, `/* */ {}`, `{"funcKey":"a // b"}`, `{"funcParams":[1]}`,
		"{\"funcKey\":\"\xff\"}", `{"uuid":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := rtbroadcaster.DecodeMessage(data)
		if err != nil {
			if m != nil {
				t.Fatal("an error came with a message")
			}
			return
		}
		if m.FuncParams == nil {
			t.Fatal("decoded funcParams is nil")
		}
		again, err := rtbroadcaster.DecodeMessage(m.Encode())
		if err != nil {
			t.Fatalf("the server's own encoding %s does not decode: %v", m.Encode(), err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}
