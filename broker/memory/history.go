package memory

import "github.com/rtbroadcaster/rtbroadcaster/broker"

// history keeps a room's latest messages, consecutive in seq, within a count
// and a byte bound, so that a viewer that reconnects can be sent exactly
// what it missed. Its owner, the room, guards it with the room's lock.
type history struct {
	entries []broker.Entry // oldest first
	bytes   int
}

// add appends the message numbered seq, then drops the oldest messages
// until both bounds hold again.
func (h *history) add(seq uint64, body []byte, maxMessages, maxBytes int) {
	h.entries = append(h.entries, broker.Entry{Seq: seq, Body: body})
	h.bytes += len(body)
	h.dropOldest(func(kept int) bool { return kept > maxMessages || h.bytes > maxBytes })
}

// trim drops the oldest messages until at least n bytes are freed, or none
// is left, and returns the bytes freed: all the rooms' histories together
// passed their bound (broker.Publication.MaxTotalHistoryBytes).
func (h *history) trim(n int) (freed int) {
	before := h.bytes
	h.dropOldest(func(int) bool { return before-h.bytes < n })
	return before - h.bytes
}

// dropOldest drops the oldest messages while more, told how many are
// still kept, is true.
func (h *history) dropOldest(more func(kept int) bool) {
	drop := 0
	for drop < len(h.entries) && more(len(h.entries)-drop) {
		h.bytes -= len(h.entries[drop].Body)
		h.entries[drop] = broker.Entry{} // let the body be collected
		drop++
	}
	h.entries = h.entries[drop:]
}

// after returns the messages numbered above seq up to last, the room's
// latest, and whether it still holds all of them.
func (h *history) after(seq, last uint64) ([]broker.Entry, bool) {
	if seq > last {
		return nil, false // a number the room never gave
	}
	if seq == last {
		return []broker.Entry{}, true
	}
	if len(h.entries) == 0 || h.entries[0].Seq > seq+1 {
		return nil, false
	}
	from := int(seq + 1 - h.entries[0].Seq)
	return append([]broker.Entry(nil), h.entries[from:]...), true
}
