package rtbroadcaster

import (
	"crypto/tls"
	"net"
	"syscall"
)

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT (linux/tcp.h).
const tcpNotSentLowat = 25

// limitUnsent makes the kernel hold at most about n bytes that conn has
// not sent yet: a write waits, rather than queues in the kernel what the
// peer cannot take for seconds. It is set on connections that receive
// conflated messages (see conflate.go), so that what waits for a slow peer
// waits in the outbox, where a newer message can replace it. Sockets that
// are not TCP (SSE through a ResponseWriter, tests' pipes) are left as
// they are.
func limitUnsent(conn net.Conn, n int) {
	if c, ok := conn.(*tls.Conn); ok {
		conn = c.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	})
}
