package protocol_test

import (
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// TestEncodeIsCanonical: funcParams is always an array, HTML is not
// escaped, and the extension fields are omitted when empty, so that the
// original clients see the five fields they know.
func TestEncodeIsCanonical(t *testing.T) {
	m := &protocol.Message{UUID: "r", Status: protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected}, FuncKey: "<b>"}
	want := `{"uuid":"r","status":{"value":3,"text":"connected"},"funcKey":"<b>","funcParams":[],"stateMessage":false}`
	if got := string(m.Encode()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if m.FuncParams != nil {
		t.Fatal("Encode changed its message")
	}
	one := 1
	m = &protocol.Message{Viewers: &one, ID: "q1", Error: &protocol.Error{Code: protocol.CodeRoomFull, Message: "full"}}
	want = `{"uuid":"","status":{"value":0,"text":""},"funcKey":"","funcParams":[],"stateMessage":false,"viewers":1,"error":{"code":"room_full","message":"full"},"id":"q1"}`
	if got := string(m.Encode()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestKey(t *testing.T) {
	if k := (&protocol.Message{FuncKey: "f"}).Key(); k != "f" {
		t.Fatalf("Key without stateKey = %q, want the funcKey", k)
	}
	if k := (&protocol.Message{FuncKey: "f", StateKey: "s"}).Key(); k != "s" {
		t.Fatalf("Key with stateKey = %q, want it", k)
	}
}

func TestErrorIsAGoError(t *testing.T) {
	var err error = &protocol.Error{Code: protocol.CodeNotOwner, Message: "only the owner may close the room"}
	if got := err.Error(); got != "not_owner: only the owner may close the room" {
		t.Fatalf("Error() = %q", got)
	}
}
