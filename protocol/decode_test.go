package protocol_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

func TestDecodeReadmeExamples(t *testing.T) {
	for _, tc := range []struct {
		frame  string
		status int
		key    string
		params []string
	}{
		{readmeCreate, protocol.StatusNew, "", []string{}},
		{readmeBroadcast, protocol.StatusConnected, "myKey", []string{"param1", "param2", "param3"}},
		{readmeClose, protocol.StatusClose, "", []string{}},
	} {
		m, err := protocol.DecodeMessage([]byte(tc.frame))
		if err != nil {
			t.Fatalf("%s: %v", tc.frame, err)
		}
		if m.Status.Value != tc.status || m.FuncKey != tc.key || !reflect.DeepEqual(m.FuncParams, tc.params) {
			t.Fatalf("decoded %+v, want status %d, funcKey %q, params %q", m, tc.status, tc.key, tc.params)
		}
	}
}

func TestDecodeTellsSeqZeroFromNone(t *testing.T) {
	with, err := protocol.DecodeMessage([]byte(`{"uuid":"r","status":{"value":2},"seq":0}`))
	if err != nil || !with.HasSeq || with.Seq != 0 {
		t.Fatalf("seq 0: %+v, %v; want HasSeq", with, err)
	}
	without, err := protocol.DecodeMessage([]byte(`{"uuid":"r","status":{"value":2}}`))
	if err != nil || without.HasSeq {
		t.Fatalf("no seq: %+v, %v; want no HasSeq", without, err)
	}
}

// TestDecodeErrors: what is wrong is said in a client developer's terms.
func TestDecodeErrors(t *testing.T) {
	for frame, want := range map[string]string{
		"":                          "empty frame",
		`{"uuid":`:                  "not valid JSON",
		`[1]`:                       "expected a JSON object",
		`{"status":{"value":"1"}}`:  `status.value"`,
		`{"funcParams":[1]}`:        `funcParams"`,
		`{"funcKey":"x" /* never }`: "not valid JSON",
		`{"id":"` + strings.Repeat("x", protocol.MaxRequestID+1) + `"}`: "request id",
	} {
		m, err := protocol.DecodeMessage([]byte(frame))
		if err == nil || m != nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, %v; want an error saying %q", frame, m, err, want)
		}
	}
}

func TestStripCommentsLeavesStringsAlone(t *testing.T) {
	in := `{"a":"x // y", /* c */ "b":"/* z */"} // end`
	out, ok := protocol.StripComments([]byte(in))
	if want := `{"a":"x // y",   "b":"/* z */"} ` + "\n"; !ok || string(out) != want {
		t.Fatalf("got %q, %v; want %q", out, ok, want)
	}
	if _, ok := protocol.StripComments([]byte(`{"a":"//"}`)); ok {
		t.Fatal("a string holding // was taken for a comment")
	}
}

func TestRequestID(t *testing.T) {
	for frame, want := range map[string]string{
		`{"id":"r1","status":{"value":3}}`: "r1",
		`{"status":{"value":3}}`:           "",
		`not json`:                         "",
		`{"id":"` + strings.Repeat("x", protocol.MaxRequestID+1) + `"}`: "",
		`{"id":"` + strings.Repeat("x", protocol.MaxRequestID) + `"}`:   strings.Repeat("x", protocol.MaxRequestID),
	} {
		if got := protocol.RequestID([]byte(frame)); got != want {
			t.Errorf("RequestID(%q) = %q, want %q", frame, got, want)
		}
	}
}
