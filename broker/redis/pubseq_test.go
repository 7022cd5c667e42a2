package redis_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestPubSeqSurvivesClaimAndFlush: an owner's numbers are the room's: the
// node that claims the room on the owner's resume reads the count into its
// restore copy, and a Redis that lost the room gets it back from that copy,
// so that a message resent after the loss is still a repeat.
func TestPubSeqSurvivesClaimAndFlush(t *testing.T) {
	srv := redistest.StartServer(t)
	first, second := twoNodes(t, srv)
	room := uuid.NewString()
	if err := first.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: restoreLease}); err != nil {
		t.Fatal(err)
	}
	numberedPub := func(n, epoch uint64) broker.Publication {
		p := actionPub(`{"n":1}`)
		p.PubSeq, p.OwnerEpoch = n, epoch
		return p
	}
	for n := uint64(1); n <= 3; n++ {
		mustPublish(t, first, room, numberedPub(n, 1))
	}
	epoch, err := second.ClaimOwner(ctx(t), room, "hash") // the owner resumed on the other node
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, second, room, numberedPub(4, epoch))

	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer admin.Close()
	if err := admin.FlushAll(ctx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	var repeat *broker.PubSeqRepeatError
	eventually(t, "resend of 4 after the flush", func() error {
		_, err := second.Publish(ctx(t), room, numberedPub(4, epoch))
		if errors.As(err, &repeat) {
			return nil
		}
		return errors.Join(errors.New("not a repeat"), err)
	})
	if repeat.Last != 4 {
		t.Fatalf("repeat after the restore: Last %d, want 4", repeat.Last)
	}
	var gap *broker.PubSeqGapError
	if _, err := second.Publish(ctx(t), room, numberedPub(6, epoch)); !errors.As(err, &gap) || gap.Last != 4 {
		t.Fatalf("6 after the restore: %v, want a gap after 4", err)
	}
	mustPublish(t, second, room, numberedPub(5, epoch))
	if snap, err := second.Snapshot(ctx(t), room, nil); err != nil || snap.PubSeq != 5 {
		t.Fatalf("snapshot: PubSeq %d, %v; want 5", snap.PubSeq, err)
	}
}

// TestPubSeqLostWrites: Redis comes back with the room as it was before
// the owner's last numbered publications. The owner's next one is refused
// as lost and uses its number up, and every number below it: the next
// number is accepted, a resend of the refused one is a repeat, and nothing
// is delivered twice.
func TestPubSeqLostWrites(t *testing.T) {
	srv := redistest.StartServer(t, redistest.AppendOnly)
	owner, other := twoNodes(t, srv)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash"})
	numbered := func(n uint64) broker.Publication {
		p := actionPub(`{"n":1}`)
		p.PubSeq, p.OwnerEpoch = n, 1
		return p
	}
	mustPublish(t, owner, room, numbered(1))
	survived := mustPublish(t, owner, room, numbered(2))
	waitDelivered(t, sub, int(survived))
	back := srv.Checkpoint()
	last := mustPublish(t, owner, room, numbered(3))
	waitDelivered(t, sub, int(last))
	back()
	waitLost(t, sub)

	var lost *broker.LostWritesError
	eventually(t, "the owner's publish after the rollback", func() error {
		_, err := owner.Publish(ctx(t), room, numbered(4))
		if errors.As(err, &lost) {
			return nil
		}
		return errors.Join(errors.New("not lost"), err)
	})
	var repeat *broker.PubSeqRepeatError
	if _, err := owner.Publish(ctx(t), room, numbered(4)); !errors.As(err, &repeat) || repeat.Last != 4 {
		t.Fatalf("4 again after its lost refusal: %v, want a repeat with Last 4", err)
	}
	if seq := mustPublish(t, owner, room, numbered(5)); seq <= last {
		t.Fatalf("5 numbered %d, which the stream gave before (up to %d)", seq, last)
	}
	if snap, err := other.Snapshot(ctx(t), room, nil); err != nil || snap.PubSeq != 5 {
		t.Fatalf("snapshot: PubSeq %d, %v; want 5", snap.PubSeq, err)
	}
}
