package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/client"
)

// exampleServer starts a server for the examples; a real program dials its
// own, e.g. "ws://localhost:8080/broadcast".
func exampleServer() (url string, stop func()) {
	mgr := rtbroadcaster.NewManager(rtbroadcaster.WithLogger(nil), rtbroadcaster.WithAllowedOrigins("https://slides.example.com"))
	srv := httptest.NewServer(mgr)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), func() {
		_ = mgr.Shutdown(context.Background())
		srv.Close()
	}
}

// An owner creates a room, keeps the current slide as state and broadcasts
// a live action; a viewer who joins later gets the slide replayed, then the
// live actions.
func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	owner, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer owner.Close()
	room, err := owner.Create(ctx)
	if err != nil {
		panic(err)
	}
	_ = owner.SetState("goToSlide", "4")
	_ = owner.Sync(ctx) // the server keeps the slide before the viewer joins

	replayed := make(chan struct{})
	done := make(chan struct{})
	viewer, err := client.Dial(ctx, url, &client.Options{Events: client.Events{
		OnReplayDone: func(count int) { fmt.Println("replayed", count, "state message(s)"); close(replayed) },
	}})
	if err != nil {
		panic(err)
	}
	defer viewer.Close()
	viewer.Handle("goToSlide", func(params []string) { fmt.Println("slide", params[0]) })
	viewer.Handle("laser", func(params []string) { fmt.Println("laser at", params[0], params[1]); close(done) })
	reply, err := viewer.Join(ctx, room)
	if err != nil {
		panic(err)
	}
	<-replayed // handlers and events run on the client's own goroutine
	fmt.Println("joined with", reply.StateCount, "state message(s) to replay")

	_ = owner.Broadcast("laser", "120", "80")
	<-done
	// Output:
	// slide 4
	// replayed 1 state message(s)
	// joined with 1 state message(s) to replay
	// laser at 120 80
}

// A refused request returns the server's *rtbroadcaster.Error; its Code is
// stable and meant for programs.
func ExampleClient_Join() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	viewer, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer viewer.Close()

	_, err = viewer.Join(ctx, "f63ca67e-69bb-4a16-a71f-86a87acbe0b5")
	var refusal *rtbroadcaster.Error
	if errors.As(err, &refusal) && refusal.Code == rtbroadcaster.CodeRoomNotFound {
		fmt.Println("this session has ended")
	}
	// Output: this session has ended
}

// Broadcast and SetState do not wait for the server; Sync does, and returns
// what it refused meanwhile.
func ExampleClient_Sync() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	owner, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer owner.Close()
	if _, err := owner.Create(ctx); err != nil {
		panic(err)
	}
	_ = owner.SetKeyedState("stroke-1", "draw", "10,10", "20,20")
	_ = owner.SetKeyedState("stroke-2", "draw", "20,20", "30,10")
	fmt.Println("refused:", owner.Sync(ctx))
	// Output: refused: <nil>
}

// The owner learns how many viewers watch, at most every 200 ms.
func ExampleEvents() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	counts := make(chan int, 10)
	owner, err := client.Dial(ctx, url, &client.Options{Events: client.Events{
		OnViewers: func(n int) { counts <- n },
	}})
	if err != nil {
		panic(err)
	}
	defer owner.Close()
	room, _ := owner.Create(ctx)

	viewer, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer viewer.Close()
	_, _ = viewer.Join(ctx, room)
	fmt.Println("viewers:", <-counts)
	// Output: viewers: 1
}

// The reconnect policy's zero value reconnects forever; a viewer rejoins its
// room and gets the state replay again.
func ExampleReconnectPolicy() {
	opts := &client.Options{
		Origin: "https://slides.example.com", // for servers that check browser origins
		Reconnect: client.ReconnectPolicy{
			InitialDelay: time.Second,
			MaxDelay:     30 * time.Second,
			MaxAttempts:  20,
		},
		Events: client.Events{
			OnReconnecting: func(attempt int, delay time.Duration, cause error) {
				fmt.Printf("try %d in %v: %v\n", attempt, delay, cause)
			},
		},
	}
	url, stop := exampleServer()
	defer stop()
	viewer, err := client.Dial(context.Background(), url, opts)
	if err != nil {
		panic(err)
	}
	defer viewer.Close()
	// Output:
}

// A presenter process that dies leaves its room waiting for its owner for
// the server's grace. The next process takes it back with the room id and
// owner key the first one saved, and restores its slide from the room's
// kept state.
func ExampleClient_ResumeRoom() {
	url, crash, stop := crashableServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// The first process creates the room and saves what takes it back.
	first, err := client.Dial(ctx, url, &client.Options{Reconnect: client.ReconnectPolicy{Disabled: true}})
	if err != nil {
		panic(err)
	}
	room, err := first.Create(ctx)
	if err != nil {
		panic(err)
	}
	saved := struct{ Room, OwnerKey string }{room, first.OwnerKey()} // e.g. written to a file
	_ = first.SetState("goToSlide", "4")
	_ = first.Sync(ctx)
	crash() // the process dies without closing its room
	<-first.Done()

	// The next process takes the room back and restores what it shows.
	next, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer next.Close()
	state, err := next.ResumeRoom(ctx, saved.Room, saved.OwnerKey)
	var refusal *rtbroadcaster.Error
	if errors.As(err, &refusal) && refusal.Code == rtbroadcaster.CodeRoomNotFound {
		fmt.Println("the grace has passed: create a new room")
		return
	} else if err != nil {
		panic(err)
	}
	for _, s := range state {
		fmt.Println("restore", s.FuncKey, s.Params)
	}
	fmt.Println("owner again:", next.IsOwner(), next.Room() == saved.Room)
	_ = next.Broadcast("laser", "120", "80") // viewers never left
	// Output:
	// restore goToSlide [4]
	// owner again: true true
}

// crashableServer is exampleServer whose crash cuts every connection open
// to it, as when a client's process dies without a word.
func crashableServer() (url string, crash, stop func()) {
	mgr := rtbroadcaster.NewManager(rtbroadcaster.WithLogger(nil))
	srv := httptest.NewUnstartedServer(mgr)
	ln := &trackingListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.Start()
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ln.cut, func() {
		_ = mgr.Shutdown(context.Background())
		srv.Close()
	}
}

// trackingListener remembers the connections it accepted, to cut them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, conn)
		l.mu.Unlock()
	}
	return conn, err
}

func (l *trackingListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}
