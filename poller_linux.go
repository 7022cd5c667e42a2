package rtbroadcaster

import (
	"net"
	"sync"
	"syscall"
)

// poller tells connections when their sockets have bytes to read, so that a
// connection with nothing to read parks no goroutine: the memory of an idle
// viewer is its state, not a goroutine's stack and a read buffer. One
// goroutine waits on an epoll set of every connection's socket; a socket
// that turns readable is handed to a goroutine of its own (conn.readReady),
// which reads until the socket is empty and arms the socket again.
//
// The socket stays Go's: it is registered in this epoll set beside the
// runtime's, reads go through its syscall.RawConn without blocking, and
// writes are the outbox's, through the runtime's poller as before. Each
// socket is armed for one event at a time (EPOLLONESHOT), so one goroutine
// at most reads a connection, in order.
type poller struct {
	epfd int
	wake [2]int // a pipe: a byte written into it ends a wait, so that run can return

	mu      sync.Mutex
	conns   map[uint64]*conn // by the id its events carry; the wake pipe is 0
	lastID  uint64
	running bool // run is waiting; it returns when conns is empty
}

// sharedPoller serves every Manager of the process; it is nil when epoll is
// not available, and connections then read on a goroutine each.
var sharedPoller = sync.OnceValue(func() *poller {
	p, err := newPoller()
	if err != nil {
		return nil
	}
	return p
})

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, conns: map[uint64]*conn{}}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	return p, nil
}

// pollable is the raw socket of conn, when the poller can wait on it: a
// TCP or Unix socket. A TLS connection reads on a goroutine of its own: a
// readable socket may hold only part of a TLS record.
func pollable(conn net.Conn) syscall.RawConn {
	switch c := conn.(type) {
	case *net.TCPConn:
		if rc, err := c.SyscallConn(); err == nil {
			return rc
		}
	case *net.UnixConn:
		if rc, err := c.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// readInterest is what a socket is armed for: bytes, or the peer's end.
const readInterest = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// add registers c, whose socket is rc, and arms it.
func (p *poller) add(c *conn, rc syscall.RawConn) error {
	p.mu.Lock()
	p.lastID++
	c.pollID = p.lastID
	p.conns[c.pollID] = c
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		go p.run()
	}
	err := p.ctl(rc, syscall.EPOLL_CTL_ADD, c.pollID)
	if err != nil {
		p.remove(c)
	}
	return err
}

// rearm arms c's socket for its next event, once its reader found it empty.
func (p *poller) rearm(c *conn) error { return p.ctl(c.out.raw, syscall.EPOLL_CTL_MOD, c.pollID) }

func (p *poller) ctl(rc syscall.RawConn, op int, id uint64) error {
	ev := syscall.EpollEvent{Events: readInterest, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = syscall.EpollCtl(p.epfd, op, int(fd), &ev) }); cerr != nil {
		return cerr // the socket is closed
	}
	return err
}

// remove forgets c; closing its socket takes it out of the epoll set.
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.pollID)
	last := len(p.conns) == 0 && p.running
	p.mu.Unlock()
	if last {
		_, _ = syscall.Write(p.wake[1], []byte{1})
	}
}

// run waits for sockets to turn readable and starts their readers, until no
// connection is left.
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil && err != syscall.EINTR {
			panic("rtbroadcaster: epoll_wait: " + err.Error()) // only a bad epfd, which is ours
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				p.drainWake()
			} else if c := p.conns[id]; c != nil {
				go c.readReady()
			}
		}
		if len(p.conns) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// drainWake empties the wake pipe.
func (p *poller) drainWake() {
	var buf [64]byte
	for {
		if n, err := syscall.Read(p.wake[0], buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// readNow reads what rc holds without waiting: syscall.EAGAIN when nothing.
func readNow(rc syscall.RawConn, buf []byte) (n int, err error) {
	if cerr := rc.Read(func(fd uintptr) bool {
		n, err = syscall.Read(int(fd), buf)
		return true // never wait: the poller does
	}); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// writeNow writes what the socket rc takes of p without waiting: a full
// socket takes less, or nothing (n is 0, err nil).
func writeNow(rc syscall.RawConn, p []byte) (n int, err error) {
	if cerr := rc.Write(func(fd uintptr) bool {
		n, err = syscall.Write(int(fd), p)
		return true // never wait: a drain goroutine does
	}); cerr != nil {
		return 0, cerr
	}
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return 0, nil
	}
	return max(n, 0), err
}
