package rtbroadcaster

import (
	"strconv"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// Conflation (PROTOCOL.md, Conflated streams).
//
// A conflated message only matters until a newer one of its key arrives.
// An outbox holds at most one unsent frame per conflated key: when a newer
// one is pushed, the older one's place in the queue becomes a skip marker,
// a small frame of this connection's own that says "seqs N..M were
// conflated away", and the newer frame goes at the end of the queue, in its
// own place in the stream. Seq order is never broken and the numbering
// stays exact: a viewer that counts seqs counts the skipped ones as
// received. Adjacent markers whose ranges meet are coalesced into one.
//
// Normal traffic pays nothing for it: the outbox keeps its side tables
// (which queue index holds which key's frame, which indexes are markers)
// only while a conflated frame waits, and frames are still encoded once
// for all viewers; only markers are per viewer. A marker that was merged
// into its neighbour leaves a hole (a nil frame, written as nothing) rather
// than moving the rest of the queue; holes are compacted away once they are
// half of a queue.

// skipRange is the seqs From..To, both included, that a marker covers.
type skipRange struct{ From, To uint64 }

// skipMarkerPrefix is the start of the skip markers of room id: the
// envelope of a status 3 with an empty funcKey, which clients that do not
// know markers (the original JavaScript client among them) ignore. It is
// made once per room replica.
func skipMarkerPrefix(id string) []byte {
	body := connectedMessage(id).Encode()
	return append(body[:len(body)-1:len(body)-1], `,"skippedFrom":`...)
}

// skipMarker frames the marker of r with prefix: skippedFrom r.From, seq r.To.
func skipMarker(prefix []byte, r skipRange) []byte {
	body := make([]byte, 0, len(prefix)+21)
	body = append(body, prefix...)
	body = strconv.AppendUint(body, r.From, 10)
	body = append(body, '}')
	return protocol.AppendSeq(body, r.To)
}

// conflateUnsentBytes is about the most a connection that receives
// conflated messages lets the kernel hold unsent (see limitUnsent): the
// rest waits in its outbox, where it is conflated. Its latest value of a
// key is then at most one write, this and what the network has in flight
// behind.
const conflateUnsentBytes = 4 << 10

// holeCompactMin is the fewest holes a queue compacts.
const holeCompactMin = 32

// pushConflated queues frame, a message of the room's stream conflated
// under key; skipPrefix is the room's (skipMarkerPrefix). An
// unsent frame of the same key still waiting is replaced: its place becomes
// a skip marker. It reports false when the connection is closing or was
// just found too slow.
func (o *outbox) pushConflated(frame []byte, key string, skipPrefix []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return false
	}
	i, waiting := o.conflated[key]
	if !waiting {
		if !o.admitLocked(frame) {
			return false
		}
		if o.conflated == nil {
			o.conflated = make(map[string]int)
		}
		if !o.unsentLimited {
			o.unsentLimited = true
			limitUnsent(o.sock.NetConn(), conflateUnsentBytes)
		}
		o.conflated[key] = len(o.queue)
		o.queue = append(o.queue, frame)
		o.startLocked()
		return true
	}
	o.skipPrefix = skipPrefix
	if o.onSkip != nil {
		o.onSkip()
	}
	old := o.queue[i]
	oldSeq, _ := protocol.TrailingSeq(old)
	o.queued -= len(old)
	o.queue[i] = nil
	at := o.markSkippedLocked(i, skipRange{oldSeq, oldSeq})
	if at != i && i == len(o.queue)-1 {
		// The replaced frame was the last one, and its seqs went into the
		// marker before it: the newer frame takes its slot, so that a
		// stream of one key makes no holes.
		o.queue = o.queue[:i]
	} else if at != i {
		o.holes++
	}
	if o.queued+len(frame) > o.limit {
		o.cutSlowLocked()
		return false
	}
	o.queued += len(frame)
	o.conflated[key] = len(o.queue)
	o.queue = append(o.queue, frame)
	o.compactLocked()
	o.startLocked()
	return true
}

// markSkippedLocked records that the seqs of r, whose frame was at index i
// (now empty), were skipped: it extends the marker before i, or makes i a
// marker, and merges the marker after it when their ranges meet. It
// returns the index of the marker that holds r.
func (o *outbox) markSkippedLocked(i int, r skipRange) int {
	at := i
	if p := o.prevItemLocked(i); p >= 0 {
		if m, ok := o.marks[p]; ok && m.To+1 == r.From {
			r.From, at = m.From, p
		}
	}
	if n := o.nextItemLocked(i); n >= 0 {
		if m, ok := o.marks[n]; ok && r.To+1 == m.From {
			r.To = m.To
			delete(o.marks, n)
			o.queued -= len(o.queue[n])
			o.queue[n] = nil
			o.holes++
		}
	}
	if o.marks == nil {
		o.marks = make(map[int]skipRange)
	}
	if _, ok := o.marks[at]; ok {
		o.queued -= len(o.queue[at]) // the marker grows
	}
	o.marks[at] = r
	o.queue[at] = skipMarker(o.skipPrefix, r)
	o.queued += len(o.queue[at])
	return at
}

// prevItemLocked is the index of the last frame before i that is not a
// hole, or -1. Frames before a replay's place are being written first and
// are not looked at: nothing merges across a replay.
func (o *outbox) prevItemLocked(i int) int {
	for j := i - 1; j >= 0; j-- {
		if o.replay != nil && j < o.replayAfter {
			return -1
		}
		if o.queue[j] != nil {
			return j
		}
	}
	return -1
}

// nextItemLocked is the index of the first frame after i that is not a
// hole, or -1.
func (o *outbox) nextItemLocked(i int) int {
	for j := i + 1; j < len(o.queue); j++ {
		if o.replay != nil && j == o.replayAfter {
			return -1
		}
		if o.queue[j] != nil {
			return j
		}
	}
	return -1
}

// compactLocked drops the queue's holes once they are half of it, and
// renumbers what points into it.
func (o *outbox) compactLocked() {
	if o.holes < holeCompactMin || o.holes*2 < len(o.queue) {
		return
	}
	where := make(map[int]int, len(o.conflated)+len(o.marks))
	n, after := 0, o.replayAfter
	for j, f := range o.queue {
		if f == nil {
			if j < o.replayAfter {
				after--
			}
			continue
		}
		where[j] = n
		o.queue[n] = f
		n++
	}
	clear(o.queue[n:])
	o.queue, o.replayAfter, o.holes = o.queue[:n], after, 0
	o.renumberLocked(func(j int) (int, bool) { k, ok := where[j]; return k, ok })
}

// tookLocked says the first n frames of the queue were taken for writing:
// they can no longer be replaced, and the rest moved down by n.
func (o *outbox) tookLocked(n int) {
	if o.conflated == nil && o.marks == nil {
		return
	}
	o.renumberLocked(func(j int) (int, bool) { return j - n, j >= n })
	o.holes = 0
	for _, f := range o.queue {
		if f == nil {
			o.holes++
		}
	}
}

// renumberLocked moves the conflation tables' indexes by to, forgetting
// those it drops; tables left empty are let go.
func (o *outbox) renumberLocked(to func(int) (int, bool)) {
	for k, j := range o.conflated {
		if nj, ok := to(j); ok {
			o.conflated[k] = nj
		} else {
			delete(o.conflated, k)
		}
	}
	if len(o.marks) > 0 {
		marks := make(map[int]skipRange, len(o.marks))
		for j, r := range o.marks {
			if nj, ok := to(j); ok {
				marks[nj] = r
			}
		}
		o.marks = marks
	}
	if len(o.conflated) == 0 {
		o.conflated = nil
	}
	if len(o.marks) == 0 {
		o.marks = nil
	}
}

// forgetConflatedLocked drops the conflation tables: the whole queue was
// taken, or dropped.
func (o *outbox) forgetConflatedLocked() {
	o.conflated, o.marks, o.holes = nil, nil, 0
}
