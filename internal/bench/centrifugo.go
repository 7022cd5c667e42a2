package bench

// With -target centrifugo the bench drives a Centrifugo v6 server (issue 16:
// the same load, side by side) instead of rtbroadcaster. Everything but the
// wire is shared: rooms, windows, viewers' sequence checks, latency and the
// report. On the wire (Centrifugo's JSON client protocol over WebSocket,
// -url ws://HOST:PORT/connection/websocket):
//
//   - every connection sends {"id":1,"connect":{"token":JWT}}, the JWT an
//     HS256 token signed with -centrifugo-hmac-secret (sub "bench");
//   - room N is the channel "roomN" (or the -join channel); a viewer then
//     sends {"id":2,"subscribe":{"channel":"roomN"}} and has joined at its reply;
//   - the owner publishes {"id":…,"publish":{"channel":"roomN","data":
//     {"funcKey":"bench","funcParams":[seq, sendTimeNs, padding]}}}, the
//     same funcParams as to rtbroadcaster; viewers get the publication as
//     {"push":{"channel":"roomN","pub":{"data":…,"info":{publisher}}}}, several to a frame,
//     one a line, and answer the server's pings ({}) with {}.
//
// The server needs the configuration centrifugoConfig (printed by
// `rtbroadcaster bench -print-centrifugo-config`): the HMAC secret, and
// clients allowed to subscribe and publish in channels without a namespace.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

// Targets: the server the bench drives.
const (
	targetRTB        = "rtbroadcaster"
	targetCentrifugo = "centrifugo"
)

// defaultCentrifugoSecret is the HMAC secret of centrifugoConfig.
const defaultCentrifugoSecret = "rtbroadcaster-bench-secret"

// centrifugoConfig is the Centrifugo v6 configuration the bench expects:
// `centrifugo -c FILE`, with the port in CENTRIFUGO_HTTP_SERVER_PORT.
func centrifugoConfig(secret string) string {
	return `{
  "client": {
    "token": {"hmac_secret_key": ` + strconv.Quote(secret) + `}
  },
  "channel": {
    "without_namespace": {
      "allow_subscribe_for_client": true,
      "allow_publish_for_client": true
    }
  },
  "health": {"enabled": true},
  "log": {"level": "error"}
}
`
}

// centrifugoToken is a connection JWT for user "bench", HS256, valid for a day.
func centrifugoToken(secret string, now time.Time) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(`{"sub":"bench","exp":` + strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10) + `}`))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
}

// centrifugoChannel is room index's channel.
func centrifugoChannel(index int) string { return "room" + strconv.Itoa(index) }

// centrifugoPushPrefix is how a publication to channel reaches a viewer, up
// to its first param.
func centrifugoPushPrefix(channel string) []byte {
	return []byte(`{"push":{"channel":` + strconv.Quote(channel) + `,"pub":{"data":{"funcKey":"` + funcKey + `","funcParams":["`)
}

func centrifugoConnect(token string) []byte {
	return []byte(`{"id":1,"connect":{"token":` + strconv.Quote(token) + `}}`)
}

func centrifugoSubscribe(channel string) []byte {
	return []byte(`{"id":2,"subscribe":{"channel":` + strconv.Quote(channel) + `}}`)
}

// appendCentrifugoPublish builds the owner's publish command of message
// seq: its data holds funcParams of size bytes, as appendMessage's do.
func appendCentrifugoPublish(b []byte, channel string, seq uint64, sentNano int64, size int) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, seq+2, 10) // 1 was the connect command
	b = append(b, `,"publish":{"channel":`...)
	b = strconv.AppendQuote(b, channel)
	b = append(b, `,"data":{"funcKey":"`+funcKey+`","funcParams":["`...)
	return append(appendParams(b, seq, sentNano, size), `"]}}}`...)
}

// centrifugoPublisherInfo is what Centrifugo adds to a client's publication
// after its data: the publisher's user and client id (a uuid).
const centrifugoPublisherInfo = `,"info":{"user":"bench","client":"` + zeroUUID + `"}`

// centrifugoMessageBytes is the size of a publication's push as viewers get it.
func centrifugoMessageBytes(size int) int {
	m := appendCentrifugoPublish(nil, centrifugoChannel(0), 1, time.Now().UnixNano(), size)
	params := m[bytes.Index(m, []byte(`"funcParams":["`))+len(`"funcParams":["`) : len(m)-len(`"]}}}`)]
	return len(centrifugoPushPrefix(centrifugoChannel(0))) + len(params) + len(`"]}`+centrifugoPublisherInfo+`}}}`)
}

// nextLine splits the first line (one reply or push) off a frame.
func nextLine(frame []byte) (line, rest []byte) {
	if i := bytes.IndexByte(frame, '\n'); i >= 0 {
		return frame[:i], frame[i+1:]
	}
	return frame, nil
}

// isCentrifugoPing reports the server's ping, an empty command.
func isCentrifugoPing(line []byte) bool { return len(line) == 2 && line[0] == '{' && line[1] == '}' }

// ponger is a connection that can answer a ping.
type ponger interface {
	write(op byte, payload []byte) error
}

var centrifugoPong = []byte(`{}`)

// createCentrifugo connects room r's owner; the room is its channel.
func (r *room) createCentrifugo(ctx context.Context, b *run, connIndex int) error {
	c, err := b.sources.dial(ctx, b.urlFor(connIndex), connIndex, 4096)
	if err != nil {
		return err
	}
	r.owner = c
	if err := c.write(opText, centrifugoConnect(b.cfg.centrifugoToken)); err != nil {
		return err
	}
	reply, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if reply, _ = nextLine(reply); !bytes.HasPrefix(reply, []byte(`{"id":1,"connect":`)) {
		return fmt.Errorf("connect: unexpected reply %s", reply)
	}
	r.id = centrifugoChannel(r.index)
	r.prefix = centrifugoPushPrefix(r.id)
	return nil
}

// awaitCentrifugoJoin reads the replies to connect and subscribe; it
// handles what follows the subscribe reply in its frame.
func (v *viewer) awaitCentrifugoJoin(b *run) error {
	for {
		frame, err := v.conn.readFrame()
		if err != nil {
			return err
		}
		for len(frame) > 0 {
			var line []byte
			line, frame = nextLine(frame)
			switch {
			case hasError(line):
				return fmt.Errorf("join refused: %s", line)
			case bytes.HasPrefix(line, []byte(`{"id":2,"subscribe":`)):
				return v.centrifugoFrame(b, frame)
			case isCentrifugoPing(line):
				if err := v.conn.(ponger).write(opText, centrifugoPong); err != nil {
					return err
				}
			}
		}
	}
}

// centrifugoFrame takes in every publication of a frame and answers pings.
func (v *viewer) centrifugoFrame(b *run, frame []byte) error {
	for len(frame) > 0 {
		var line []byte
		line, frame = nextLine(frame)
		if isCentrifugoPing(line) {
			if err := v.conn.(ponger).write(opText, centrifugoPong); err != nil {
				return err
			}
			continue
		}
		v.receive(b, line)
	}
	return nil
}
