package rtbroadcaster_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster"
)

// The request examples of the README of the original rtbroadcaster (pablanka, 2016),
// exactly as printed there, comments and all. (The file's name is from when that
// package was the seed of this one.)
const (
	seedCreate = `{
	"uuid": "",
	"status": {
		"value": 1, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = close
		"text": "new connection"
	},
	"funcKey": "",
	"funcParams": [],
	"stateMessage": false
}`
	seedJoin = `{
	"uuid": "f63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 2, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = close
		"text": "join connection"
	},
	"funcKey": "",
	"funcParams": [],
	"stateMessage": false
}`
	seedBroadcast = `{
	"uuid": "63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 3, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = closed
		"text": "connected"
	},
	"funcKey": "myKey",
	"funcParams": ["param1", "param2", "param3"],
	"stateMessage": false
}`
	seedState = `{
	"uuid": "63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 3, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = closed
		"text": "connected"
	},
	"funcKey": "myKey",
	"funcParams": ["param1", "param2", "param3"],
	"stateMessage": true
}`
	seedClose = `{
	"uuid": "63ca67e-69bb-4a16-a71f-86a87acbe0b5",
	"status": {
		"value": 4, // Connection status: 0 = not connected, 1 = new, 2 = join, 3 = connected, 4 = close
		"text": "close connection"
	},
	"funcKey": "",
	"funcParams": [],
	"stateMessage": false
}`
)

// withRoom puts the room's real uuid where the original's example has its own.
func withRoom(example, room string) string {
	example = strings.ReplaceAll(example, "f63ca67e-69bb-4a16-a71f-86a87acbe0b5", room)
	return strings.ReplaceAll(example, "63ca67e-69bb-4a16-a71f-86a87acbe0b5", room)
}

// TestSeedExamplesVerbatim walks through the original README with its own JSON:
// create, join, broadcast, state message, late join, close.
func TestSeedExamplesVerbatim(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)

	owner.send(seedCreate)
	created := owner.nextRaw()
	room := decode(t, created).UUID
	if u, err := uuid.Parse(room); err != nil || u.Version() != 4 || len(room) != 36 {
		t.Fatalf("room uuid %q is not a random version-4 UUID (%v)", room, err)
	}
	// The create reply adds the ownerKey extension (PROTOCOL.md, Owner
	// resume), and acked, which says the server numbers broadcasts
	// (PROTOCOL.md, Exactly once from the owner).
	key := decode(t, created).OwnerKey
	wantExact(t, created, `{"uuid":"`+room+`","status":{"value":3,"text":"connected"},"funcKey":"","funcParams":[],"stateMessage":false,"ownerKey":"`+key+`","acked":0}`)

	// Viewers get the seq extension (PROTOCOL.md): the join reply names the
	// last message its replay covers, and the room's messages are numbered.
	viewer := dial(t, srv.wsURL, nil)
	viewer.send(withRoom(seedJoin, room))
	wantExact(t, viewer.nextRaw(), `{"uuid":"`+room+`","status":{"value":3,"text":"connected"},"funcKey":"","funcParams":[],"stateMessage":false,"seq":0}`)

	owner.send(withRoom(seedBroadcast, room))
	wantExact(t, viewer.nextRaw(), `{"uuid":"`+room+`","status":{"value":3,"text":"connected"},"funcKey":"myKey","funcParams":["param1","param2","param3"],"stateMessage":false,"seq":1}`)

	owner.send(withRoom(seedState, room))
	stateFrame := `{"uuid":"` + room + `","status":{"value":3,"text":"connected"},"funcKey":"myKey","funcParams":["param1","param2","param3"],"stateMessage":true,"seq":2}`
	wantExact(t, viewer.nextRaw(), stateFrame)

	late := dial(t, srv.wsURL, nil)
	late.send(withRoom(seedJoin, room))
	wantExact(t, late.nextRaw(), `{"uuid":"`+room+`","status":{"value":3,"text":"connected"},"funcKey":"","funcParams":[],"stateMessage":false,"stateCount":1,"seq":2}`)
	wantExact(t, late.nextRaw(), stateFrame)

	owner.send(withRoom(seedClose, room))
	notConnected := `{"uuid":"` + room + `","status":{"value":0,"text":"not connected"},"funcKey":"","funcParams":[],"stateMessage":false`
	wantExact(t, skipPresence(t, owner), notConnected+`}`)
	for _, v := range []*wsClient{viewer, late} {
		wantExact(t, v.nextRaw(), notConnected+`,"seq":3}`)
		v.expectClose(1000)
	}

	again := dial(t, srv.wsURL, nil)
	again.send(withRoom(seedJoin, room))
	again.nextError(rtbroadcaster.CodeRoomNotFound)
}

func decode(t *testing.T, raw []byte) *rtbroadcaster.Message {
	t.Helper()
	m, err := rtbroadcaster.DecodeMessage(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

func wantExact(t *testing.T, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// skipPresence returns the next frame that is not a viewer-count message.
func skipPresence(t *testing.T, c *wsClient) []byte {
	t.Helper()
	for {
		raw := c.nextRaw()
		if decode(t, raw).Viewers == nil {
			return raw
		}
	}
}
