// Package client is the Go SDK of rtbroadcaster: it connects to a server,
// creates or joins a room, broadcasts actions and state, and runs handlers
// for the actions a room's owner sends.
//
// An owner:
//
//	c, err := client.Dial(ctx, "ws://localhost:8080/broadcast", nil)
//	room, err := c.Create(ctx)
//	err = c.SetState("goToSlide", "4") // kept: late viewers start on slide 4
//	err = c.Broadcast("goToSlide", "5")
//	// Only the latest laser position matters: a slow viewer gets the latest
//	// one, not every one (PROTOCOL.md, Conflated streams).
//	err = c.BroadcastWith(client.BroadcastOptions{Conflate: true}, "laser", "120", "80")
//
// A viewer:
//
//	c, err := client.Dial(ctx, url, &client.Options{Events: client.Events{
//		OnRoomClosed: func(reason client.CloseReason) { log.Print("the session ended: ", reason) },
//	}})
//	c.Handle("goToSlide", func(params []string) { show(params[0]) })
//	reply, err := c.Join(ctx, room)
//
// # Replies and errors
//
// Create, Join, ResumeRoom, CloseRoom and Sync wait for the server's
// answer; a refusal is returned as a *protocol.Error, so errors.As and
// its Code tell what went wrong. Each request carries a fresh request id,
// which the server echoes on its reply (PROTOCOL.md, Request ids), so the
// client matches replies by id. Sync is a WebSocket ping: the server
// answers it in order with everything else. Broadcast and SetState get no
// reply when they succeed; a refusal of one (state_full, rate_limited) goes
// to Events.OnError, and Sync returns it.
//
// A server older than request ids echoes none: until one comes back on a
// connection, the client sends a ping before each request, and the pong
// marks where the request's reply starts, so that replies are matched by
// their order instead.
//
// # Concurrency
//
// A Client's methods may be called from any number of goroutines at once,
// and requests may overlap: a Join and a Sync, say, or a CloseRoom while
// another goroutine waits in Sync. Requests go out in the order they are
// called, the server handles them in that order, and each call returns the
// answer to its own request. A request whose context ends stops waiting,
// but its reply, when it comes, still applies to the client (a room it
// created or joined is the client's room).
//
// # Callbacks
//
// Handlers and Events run on the connection's one reading goroutine, one at
// a time, in the order the server sent what they report. They must return
// quickly, and must not call Create, Join, ResumeRoom, CloseRoom or Sync,
// whose replies that goroutine has yet to read: those calls would wait until
// their context ends. Broadcast, SetState and the getters are fine.
//
// # Reconnecting
//
// When a connection drops (a network failure, a server shutting down with
// close code 1001, a slow consumer closed with 4001), the client dials again
// after a random delay between 0 and min(MaxDelay, InitialDelay × 2^attempt)
// ("full jitter", so that thousands of viewers dropped at once do not return
// at the same instant), and reports each try to Events.OnReconnecting. A
// server that shuts down names the delay of the first try itself, spread
// over its clients (PROTOCOL.md, Drain), and the client waits that long.
//
//   - A viewer rejoins its room from the last message it received
//     (PROTOCOL.md, Recovery). When the server still has everything sent
//     since, exactly those messages follow, and OnRecovered(true) reports it;
//     otherwise OnRecovered(false), and the state replay follows, then
//     OnReplayDone: reset the view before it. Handlers of state actions must
//     be idempotent all the same. A join reply's seq counts only once the
//     state replay after it has been handled: a viewer that drops during
//     a replay rejoins without one, and gets OnRecovered(false) and the
//     whole replay again.
//   - A viewer does not reconnect once its room is closed (the server sends
//     status 0, then close code 1000), nor when a rejoin finds the room gone:
//     it reports OnRoomClosed and stops (Done is closed, Err is ErrRoomClosed).
//   - An owner takes its room back with the owner key of its create reply
//     (PROTOCOL.md, Owner resume) and reports OnResumed; its viewers
//     meanwhile get OnOwnerAway, then OnOwnerBack. The server replays the
//     room's kept state to it: that is the owner's own state, and none of
//     its handlers runs for it. If the room's grace passed first, the owner
//     gets OnRoomClosed(ReasonConnectionLost); its connection comes back in
//     no room, and it may Create a new room, which has a new id. Close ends
//     the owner's room at once; while the owner reconnects, it cannot tell
//     the server, and the room ends with its grace.
//
// While an owner reconnects, Broadcast and SetState are queued, up to
// Options.OfflineQueue messages (256 by default; past it they fail with
// ErrQueueFull), and sent in order as soon as the room is back, before any
// later call and before a CloseRoom or Sync made meanwhile, which wait for
// them; OnResumed(queued) says how many went. If the room is lost instead,
// the queued messages are dropped: OnError gets a *QueueDroppedError with
// their count, then OnRoomClosed runs. A negative OfflineQueue turns the
// queue off: the calls then fail with ErrNotConnected while the connection
// is down. A viewer's calls never queue.
//
// # Exactly once
//
// Against a server that numbers an owner's messages (its create or resume
// reply carries "acked"; PROTOCOL.md, Exactly once from the owner), every
// Broadcast and SetState gets the next pubSeq and is kept until the server
// acknowledges it, at least every 100 ms. What was written just before a
// drop, on a connection already dead, is sent again after the resume, in
// order, and the server drops what it already had: each message reaches
// viewers once, in order. OnResent says how many were sent again. The
// offline queue's bound, Options.OfflineQueue, applies to these
// unacknowledged messages, sent or held: a call that finds it reached
// while connected waits for an acknowledgement, at most WriteTimeout, and
// then fails with ErrUnackedFull. After a refusal that did not reach the
// room (unavailable, rate_limited), the unacknowledged messages are sent
// again after 200 ms: the refusal still goes to OnError and Sync, for
// information, but the application must not send the message again (that
// would be a new message, delivered twice). The pub_seq_gap refusals that
// follow it are the client's own business and are not reported. Against
// an older server, what was written just before a drop may not have
// reached it.
// Create, Join, ResumeRoom, CloseRoom and Sync wait for the connection
// until their context ends.
//
// # Taking a room back from another process
//
// An owner's room outlives its connection for the server's grace (30 s by
// default), so a presenter program that crashed or restarted can take its
// room back: keep the room id and OwnerKey (on disk, say, readable only by
// this application), then, in the new process, call ResumeRoom with them.
// It returns the state the room keeps, for the application to restore what
// it shows, and the client then resumes by itself after its own drops. Once
// the grace has passed it fails with room_not_found: Create a new room.
//
// ResumeRoom also hands a room over from a client still connected (a second
// device, a co-presenter given the key): the server tells the first client
// at once, which reports OnRoomClosed(ReasonReplaced) and forgets the room
// and its key, so that it never takes the room back after its own drops.
package client
