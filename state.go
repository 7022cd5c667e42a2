package rtbroadcaster

import "container/list"

// stateStore keeps a room's state messages, the latest per key, in the order
// they were last set. It stores encoded frames, so a replay encodes nothing.
// Its owner, the room, guards it with the room's lock.
type stateStore struct {
	maxEntries, maxBytes int

	order *list.List // of *stateEntry, oldest first
	byKey map[string]*list.Element
	bytes int
}

type stateEntry struct {
	key   string
	frame []byte
}

func newStateStore(maxEntries, maxBytes int) *stateStore {
	return &stateStore{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

// put keeps frame under key, replacing and moving to the end any frame kept
// under the same key. It refuses, keeping nothing, when the store would pass
// its bounds.
func (s *stateStore) put(key string, frame []byte) *Error {
	old, replacing := s.byKey[key]
	bytes, entries := s.bytes+len(frame), s.order.Len()+1
	if replacing {
		bytes -= len(old.Value.(*stateEntry).frame)
		entries--
	}
	if entries > s.maxEntries {
		return newError(CodeStateFull, "the room keeps at most %d state messages", s.maxEntries)
	}
	if bytes > s.maxBytes {
		return newError(CodeStateFull, "the room keeps at most %d bytes of state messages", s.maxBytes)
	}
	if replacing {
		s.order.Remove(old)
	}
	s.byKey[key] = s.order.PushBack(&stateEntry{key: key, frame: frame})
	s.bytes = bytes
	return nil
}

// len is the number of kept state messages.
func (s *stateStore) len() int { return s.order.Len() }

// each calls fn with every kept frame, oldest first.
func (s *stateStore) each(fn func(frame []byte)) {
	for e := s.order.Front(); e != nil; e = e.Next() {
		fn(e.Value.(*stateEntry).frame)
	}
}
