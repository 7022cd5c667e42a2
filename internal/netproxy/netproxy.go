// Package netproxy is a TCP proxy for tests that misbehaves the way a network
// does: it throttles what the server sends, stalls, and cuts connections
// (at once, or after a number of bytes), while the server and its rooms go
// on running.
package netproxy

import (
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// chunkSize is the most one read moves at a time.
const chunkSize = 16 << 10

// Proxy forwards every connection it accepts to one target address.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond // signalled when paused is cleared or the proxy closes
	links    map[*link]struct{}
	rate     int   // bytes per second from server to client; 0: unlimited
	cutAfter int64 // armed cut: downstream bytes left; <0: none
	window   int   // the receive buffer of the proxy's side of new server connections; 0: the system's
	paused   bool
	upPaused bool   // only what clients send is held
	dialTo   string // where new connections go: target, unless Retarget changed it
	closed   bool
}

// link is one proxied connection: the client's side and the server's.
type link struct{ client, server net.Conn }

// close ends both sides; what was forwarded already is still delivered.
func (l *link) close() {
	_ = l.client.Close()
	_ = l.server.Close()
}

// reset ends both sides, the client's with a TCP reset: it sees an abnormal
// end, as when a network fails, not a clean EOF.
func (l *link) reset() {
	if tcp, ok := l.client.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	l.close()
}

// Start listens on a free port of 127.0.0.1 and forwards to target
// (host:port).
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, dialTo: target, links: map[*link]struct{}{}, cutAfter: -1}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept() // accepts connections until Close
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns rawURL (ws://, http://) with its host:port, which must be
// the proxy's target, replaced by the proxy's.
func (p *Proxy) URL(rawURL string) string { return strings.Replace(rawURL, p.target, p.Addr(), 1) }

// Throttle limits what each connection carries from server to client to
// bytesPerSecond; 0 lifts the limit.
func (p *Proxy) Throttle(bytesPerSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = bytesPerSecond
}

// Window sets the receive buffer of the proxy's side of the connections it
// makes to the server from now on, as SO_RCVBUF does. A throttled link
// with the loopback's default buffers, which grow to hundreds of
// kilobytes, takes in far more than a slow network has in flight; a small
// window makes the server's writes wait for the throttle, as they would on
// such a network. 0 goes back to the system's default.
func (p *Proxy) Window(bytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.window = bytes
}

// CutAfter arms a one-time cut: the connection that next carries n more
// bytes from server to client, counted from now over all connections,
// delivers exactly n of them and is then closed.
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter = n
}

// Retarget sends the connections accepted from now on to target
// (host:port), as a load balancer that sends a client back to another
// node; open ones are untouched. URL still replaces the first target.
func (p *Proxy) Retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialTo = target
}

// Pause stops forwarding in both directions, as a frozen peer or a dead
// network would; what arrives meanwhile waits in the proxy. Resume goes on.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
}

// PauseUpstream stops forwarding what clients send, and only that, as a
// frozen client (a suspended browser tab) whose machine still receives:
// the server hears nothing, and whatever it sends, a close frame included,
// reaches the client at once. Resume goes on.
func (p *Proxy) PauseUpstream() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upPaused = true
}

// Resume ends a Pause or a PauseUpstream.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused, p.upPaused = false, false
	p.cond.Broadcast()
}

// Connections is the number of open connections.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Cut resets every open connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.reset()
		delete(p.links, l)
	}
}

// Close stops listening, cuts every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed, p.paused = true, false
	p.cond.Broadcast()
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		to, window := p.dialTo, p.window
		p.mu.Unlock()
		dialer := net.Dialer{}
		if window > 0 {
			// Set before the connection is made, so that the window it
			// offers in its handshake is the small one.
			dialer.Control = func(_, _ string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) {
					serr = errors.Join(
						syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, window),
						// An Ethernet path's segments, not the loopback's 64 KB.
						syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1448))
				})
				return errors.Join(err, serr)
			}
		}
		server, err := dialer.Dial("tcp", to)
		if err != nil {
			_ = client.Close()
			continue
		}
		l := &link{client: client, server: server}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.close()
			return
		}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(l, client, server, false) // copies client to server
		go p.pipe(l, server, client, true)  // copies server to client
	}
}

// pipe copies src to dst until either side ends; downstream is the
// server-to-client direction, the one that is throttled and cut.
func (p *Proxy) pipe(l *link, src, dst net.Conn, downstream bool) {
	defer p.wg.Done()
	defer p.drop(l)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf[:p.readSize(downstream)])
		if n > 0 {
			send, cut := p.admit(n, downstream)
			_, werr := dst.Write(buf[:send])
			if cut {
				// Closed, not reset: a reset could discard the last bytes
				// before the client reads them. Either way the client sees
				// its connection end without a WebSocket close frame.
				l.close()
				return
			}
			if werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a failure: drop closes both sides
		}
	}
}

// readSize keeps throttled reads small, so that the rate is smooth.
func (p *Proxy) readSize(downstream bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if downstream && p.rate > 0 {
		return max(1, min(chunkSize, p.rate/50))
	}
	return chunkSize
}

// admit waits while the proxy is paused (upstream, also while only that
// is) and, downstream, for the throttle;
// it returns how many of n bytes to forward and whether to cut after them.
func (p *Proxy) admit(n int, downstream bool) (send int, cut bool) {
	p.mu.Lock()
	for (p.paused || p.upPaused && !downstream) && !p.closed {
		p.cond.Wait()
	}
	rate := p.rate
	send = n
	if downstream && p.cutAfter >= 0 {
		if int64(n) >= p.cutAfter {
			send, cut, p.cutAfter = int(p.cutAfter), true, -1
		} else {
			p.cutAfter -= int64(n)
		}
	}
	p.mu.Unlock()
	if downstream && rate > 0 {
		time.Sleep(time.Duration(send) * time.Second / time.Duration(rate))
	}
	return send, cut
}

// drop forgets l and closes both of its sides.
func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close()
}
