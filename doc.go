// Package rtbroadcaster is a real-time broadcast server: a room owner sends
// actions over a WebSocket and every viewer in the room receives them; state
// messages are kept and replayed to viewers who join late.
//
// The wire protocol is described in PROTOCOL.md. The API is that of
// the original rtbroadcaster (pablanka, 2016), so servers written for it keep compiling:
//
//	mgr := rtbroadcaster.NewManager()
//	http.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
//		mgr.CreateNewClient(w, r)
//	})
package rtbroadcaster

// Where things are: manager.go (the Manager: admission, upgrade, the
// registry of connections and rooms, shutdown), netconn.go (the WebSocket
// handshake and socket), conn.go (one connection: pings, limits, its end),
// reader.go (its read side: requests in order, one at a time),
// pingwheel.go (the ping timers of every connection, on one wheel),
// framereader.go (the client frames, parsed and checked), poller_linux.go
// (an epoll set, so that an idle connection parks no goroutine),
// requests.go (what a connection
// asks: create, join, resume, broadcast, close), room.go (this node's
// replica of a room and the viewers it fans out to), owner.go (owner keys
// and an owner's leaving and return), acks.go (an owner's acknowledgements
// of its numbered broadcasts), outbox.go (a connection's send queue),
// writers.go (the few goroutines that write every queue a socket takes
// without waiting),
// conflate.go (its conflated keys and skip markers: a slow viewer of a
// latest-only stream gets the latest of each key), api.go (the HTTP API for
// backends: rooms created, fed, described and closed over HTTP;
// openapi.json describes it), sse.go (viewers over
// Server-Sent Events: a conn whose outbox writes to an event stream). The
// lock order is in LOCKING.md.
