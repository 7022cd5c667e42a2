//go:build !linux

package rtbroadcaster

import "net"

// limitUnsent is Linux only (TCP_NOTSENT_LOWAT): elsewhere, what the
// kernel buffers for a slow conflated viewer is the system's to decide.
func limitUnsent(net.Conn, int) {}
