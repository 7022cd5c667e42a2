package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// sources spreads connections over local source addresses. Each address
// has its own range of ephemeral ports (about 28,000 by default), so many
// loopback addresses (the whole of 127.0.0.0/8 reaches the local host)
// lift the limit of one.
type sources struct {
	mu      sync.Mutex
	dialers []*net.Dialer
	auto    bool // add 127.0.0.2, 127.0.0.3, ... when ports run short
	added   []string
	limit   uint64 // RLIMIT_NOFILE, for the error that says it was hit
}

// newSources uses addrs, or the default (no binding) plus enough loopback
// addresses for conns connections when addrs is empty.
func newSources(addrs []string, conns int, loopbackTarget bool, limit uint64) (*sources, error) {
	s := &sources{limit: limit}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, fmt.Errorf("-source-addrs: %q is not an IP address", a)
		}
		s.dialers = append(s.dialers, dialerFrom(ip))
	}
	if len(s.dialers) > 0 {
		return s, nil
	}
	s.dialers = []*net.Dialer{dialerFrom(nil)}
	s.auto = loopbackTarget
	if s.auto {
		perAddr := portRange() * 3 / 4 // leave room for TIME_WAIT of earlier runs
		for len(s.dialers)*perAddr < conns {
			s.addLocked()
		}
	}
	return s, nil
}

func dialerFrom(ip net.IP) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// addLocked adds the next loopback source address.
func (s *sources) addLocked() {
	ip := net.IPv4(127, 0, byte((len(s.dialers)+1)/256), byte((len(s.dialers)+1)%256))
	s.dialers = append(s.dialers, dialerFrom(ip))
	s.added = append(s.added, ip.String())
}

// dial opens WebSocket connection number i to u; see open.
func (s *sources) dial(ctx context.Context, u *url.URL, i, readBuffer int) (*wsConn, error) {
	return open(s, i, func(d *net.Dialer) (*wsConn, error) { return dialWS(ctx, d, u, readBuffer) })
}

// dialSSE opens connection number i as the event stream at u; see open.
func (s *sources) dialSSE(ctx context.Context, u *url.URL, i, readBuffer int) (*sseConn, error) {
	return open(s, i, func(d *net.Dialer) (*sseConn, error) { return dialSSE(ctx, d, u, readBuffer) })
}

// open opens connection number i with dial, from source address i modulo
// their number; when the kernel has no port left it adds an address and
// retries.
func open[C any](s *sources, i int, dial func(*net.Dialer) (C, error)) (C, error) {
	var none C
	for {
		s.mu.Lock()
		d, n := s.dialers[i%len(s.dialers)], len(s.dialers)
		s.mu.Unlock()
		c, err := dial(d)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
			return none, fmt.Errorf("hit the open-files limit (RLIMIT_NOFILE %d) at connection %d: %w", s.limit, i+1, err)
		case errors.Is(err, syscall.EADDRNOTAVAIL) && s.auto && n < 250:
			s.mu.Lock()
			if len(s.dialers) == n {
				s.addLocked()
			}
			s.mu.Unlock()
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return none, fmt.Errorf("no ephemeral port left at connection %d (add source addresses with -source-addrs): %w", i+1, err)
		default:
			return none, err
		}
	}
}

// addresses lists the source addresses in use; "default" is the system's choice.
func (s *sources) addresses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.dialers))
	for i, d := range s.dialers {
		out[i] = "default" // the system picks
		if d.LocalAddr != nil {
			out[i] = d.LocalAddr.(*net.TCPAddr).IP.String()
		}
	}
	return out
}
