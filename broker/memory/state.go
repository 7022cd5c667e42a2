package memory

import (
	"container/list"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// stateStore keeps a room's state messages, the latest per key, in the order
// they were last set. Its owner, the room, guards it with the room's lock.
type stateStore struct {
	order *list.List // of *keyedEntry, oldest first
	byKey map[string]*list.Element
	bytes int
}

type keyedEntry struct {
	key string
	broker.Entry
}

func newStateStore() *stateStore {
	return &stateStore{order: list.New(), byKey: map[string]*list.Element{}}
}

// check reports whether keeping body under key stays within the bounds,
// and the store's size in bytes if it does.
func (s *stateStore) check(key string, body []byte, maxMessages, maxBytes int) (int, error) {
	bytes, entries := s.bytes+len(body), s.order.Len()+1
	if old, ok := s.byKey[key]; ok {
		bytes -= len(old.Value.(*keyedEntry).Body)
		entries--
	}
	if entries > maxMessages {
		return 0, &broker.StateFullError{Messages: maxMessages}
	}
	if bytes > maxBytes {
		return 0, &broker.StateFullError{Bytes: maxBytes}
	}
	return bytes, nil
}

// put keeps e under key, replacing and moving to the end what was kept under
// it. Call check first.
func (s *stateStore) put(key string, e broker.Entry) {
	if old, ok := s.byKey[key]; ok {
		s.bytes -= len(old.Value.(*keyedEntry).Body)
		s.order.Remove(old)
	}
	s.byKey[key] = s.order.PushBack(&keyedEntry{key: key, Entry: e})
	s.bytes += len(e.Body)
}

// entries returns the kept messages, oldest first.
func (s *stateStore) entries() []broker.Entry {
	out := make([]broker.Entry, 0, s.order.Len())
	for e := s.order.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*keyedEntry).Entry)
	}
	return out
}
