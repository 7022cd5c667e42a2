package rtbroadcaster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// What viewers are told of their room's owner (Message.Owner).
const (
	ownerAway = "away"
	ownerBack = "back"
)

// newOwnerKey returns a room's owner key, 256 random bits for the owner to
// keep, and the hash of it for the engine to keep.
func newOwnerKey() (key, keyHash string) {
	var secret [32]byte
	_, _ = rand.Read(secret[:]) // crypto/rand.Read never fails
	key = base64.RawURLEncoding.EncodeToString(secret[:])
	return key, hashOwnerKey(key)
}

// hashOwnerKey is what the engine compares: a leak of its copy gives no
// one the key.
func hashOwnerKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ownerLeft runs when the owner's connection ended without closing its
// room: the room waits for the owner for the grace, and its viewers are told
// the owner is away. Without a grace, the room closes now. It reports
// whether the room stays open for a while, waiting for its owner.
func (c *conn) ownerLeft(r *room) (waiting bool) {
	// Not requestContext: this runs because the connection ended (finish),
	// which cancelled its requests; the room's grace must still start and
	// viewers be told.
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	// Released as its epoch, not closed outright, also without a grace: an
	// owner another connection took the room from must not close it.
	err := c.mgr.broker.ReleaseOwner(ctx, r.id, c.ownerEpoch)
	switch {
	case errors.Is(err, broker.ErrNotOwner), errors.Is(err, broker.ErrRoomNotFound):
		return false // taken back by another connection already, or closed
	case err != nil:
		c.mgr.log.Warn("owner's grace not started: the room closes when its owner's lease runs out", "room", r.id, "err", err)
		return true
	}
	if c.mgr.ownerGrace <= 0 {
		return false // without a grace the room has just closed
	}
	c.announceOwner(ctx, ownerAway)
	return true
}

// announceOwner tells the room's viewers that its owner, c, is away or
// back, as c's epoch: if another connection took the room back meanwhile,
// the news is stale and is not sent.
func (c *conn) announceOwner(ctx context.Context, status string) {
	c.mgr.announceOwner(ctx, c.room.id, c.ownerEpoch, status, c.mgr.ownerGrace)
}

// announceOwner tells the viewers of room id that its owner holding epoch is
// away (for grace) or back, in the room's stream, so that the message has
// its place in the order and in the history. It is published as epoch: if
// another connection took the room back meanwhile, the news is stale and
// the engine drops it. An engine with several nodes publishes the news it
// learns by itself (an owner's node stopped, or came back) the same way,
// rendered by renderOwnerNews.
func (m *Manager) announceOwner(ctx context.Context, id string, epoch uint64, status string, grace time.Duration) {
	p := m.renderOwnerNews(broker.OwnerNews{Room: id, Epoch: epoch, Away: status == ownerAway, GraceLeft: grace})
	if _, err := m.broker.Publish(ctx, id, p); err != nil && !errors.Is(err, broker.ErrNotOwner) {
		m.log.Warn("viewers not told of their room's owner", "room", id, "owner", status, "err", err)
	}
}

// renderOwnerNews is the Manager's broker.Renderer: the status 3 message
// saying the owner is away, with the grace left, or back.
func (m *Manager) renderOwnerNews(news broker.OwnerNews) broker.Publication {
	msg := connectedMessage(news.Room)
	msg.Owner = ownerBack
	if news.Away {
		msg.Owner = ownerAway
		msg.GraceMs = max(news.GraceLeft.Milliseconds(), 1) // a viewer reads 0 as no grace
	}
	return m.publication(msg, news.Epoch)
}

// publication is what the owner holding epoch publishes as msg.
func (m *Manager) publication(msg *Message, epoch uint64) broker.Publication {
	return broker.Publication{
		Body:                 msg.Encode(),
		OwnerEpoch:           epoch,
		MaxStateMessages:     m.limits.MaxStateMessages,
		MaxStateBytes:        m.limits.MaxStateBytes,
		MaxTotalStateBytes:   m.limits.MaxTotalStateBytes,
		MaxHistoryMessages:   m.limits.HistoryMessages,
		MaxHistoryBytes:      m.limits.HistoryBytes,
		MaxTotalHistoryBytes: m.limits.MaxTotalHistoryBytes,
	}
}
