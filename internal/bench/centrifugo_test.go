package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestCentrifugoToken: the hand-made HS256 token (the bench links no JWT
// library) is one golang-jwt verifies with the secret.
func TestCentrifugoToken(t *testing.T) {
	tok, err := jwt.Parse(centrifugoToken("s3cret", time.Now()), func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatal(err)
	}
	if sub, _ := tok.Claims.GetSubject(); sub != "bench" {
		t.Errorf("sub = %q", sub)
	}
	if _, err := jwt.Parse(centrifugoToken("other", time.Now()), func(*jwt.Token) (any, error) { return []byte("s3cret"), nil }); err == nil {
		t.Error("a token signed with another secret verified")
	}
}

// TestCentrifugoPublishAndPush: the owner's publish command is JSON whose
// funcParams are -size bytes, and the push Centrifugo makes of it, several
// to a frame with a ping, gives viewers each sequence number and send time.
func TestCentrifugoPublishAndPush(t *testing.T) {
	const size = 150
	var frame []byte
	for seq := uint64(1); seq <= 3; seq++ {
		cmd := appendCentrifugoPublish(nil, "room7", seq, int64(seq)*1000, size)
		var m struct {
			ID      int
			Publish struct {
				Channel string
				Data    json.RawMessage
			}
		}
		if err := json.Unmarshal(cmd, &m); err != nil {
			t.Fatalf("publish %s: %v", cmd, err)
		}
		var data struct {
			FuncKey    string          `json:"funcKey"`
			FuncParams json.RawMessage `json:"funcParams"`
		}
		if err := json.Unmarshal(m.Publish.Data, &data); err != nil || m.Publish.Channel != "room7" || data.FuncKey != funcKey || m.ID != int(seq)+2 {
			t.Fatalf("publish %s: %+v %+v %v", cmd, m, data, err)
		}
		if len(data.FuncParams) != size {
			t.Errorf("funcParams are %d bytes, want %d", len(data.FuncParams), size)
		}
		// What Centrifugo v6.9.1 sends viewers (JSON protocol, no history: no offset).
		push := `{"push":{"channel":"room7","pub":{"data":` + string(m.Publish.Data) +
			`,"info":{"user":"bench","client":"f1729a77-a7fb-4ea6-9ed7-bdaf03e6fb0b"}}}}`
		if seq == 1 && len(push) != centrifugoMessageBytes(size) {
			t.Errorf("centrifugoMessageBytes = %d, the push is %d", centrifugoMessageBytes(size), len(push))
		}
		if len(frame) > 0 {
			frame = append(frame, '\n')
		}
		frame = append(frame, push...)
		if seq == 2 {
			frame = append(frame, "\n{}"...)
		}
	}
	prefix := centrifugoPushPrefix("room7")
	var seqs []uint64
	pings := 0
	for rest := frame; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if isCentrifugoPing(line) {
			pings++
			continue
		}
		seq, sent, ok := parseMessage(line, prefix)
		if !ok || sent != int64(seq)*1000 {
			t.Fatalf("parseMessage(%s) = %d, %d, %v", line, seq, sent, ok)
		}
		seqs = append(seqs, seq)
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 || pings != 1 {
		t.Errorf("got %v and %d pings from %s", seqs, pings, frame)
	}
	if _, _, ok := parseMessage([]byte(`{"push":{"channel":"room70","pub":{"data":{"funcKey":"bench","funcParams":["1","2",""]}}}`), prefix); ok {
		t.Error("a push to another channel was taken")
	}
}

func TestCentrifugoConfigAndFlags(t *testing.T) {
	var cfg map[string]any
	if err := json.Unmarshal([]byte(centrifugoConfig(`a"b`)), &cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(centrifugoConfig("xyz")), []byte(`"hmac_secret_key": "xyz"`)) {
		t.Error("the secret is not in the config")
	}
	for _, args := range [][]string{{"-target", "nats"}, {"-target", "centrifugo", "-transport", "sse"}, {"-target", "centrifugo", "-rate", "1", "-churn", "1"}} {
		if _, err := parseFlags(args, &strings.Builder{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	c, err := parseFlags([]string{"-target", "centrifugo", "-centrifugo-hmac-secret", "k"}, &strings.Builder{})
	if err != nil || c.centrifugoToken == "" {
		t.Errorf("parseFlags: %v, token %q", err, c.centrifugoToken)
	}
}
