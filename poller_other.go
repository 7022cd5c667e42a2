//go:build !linux

package rtbroadcaster

import (
	"errors"
	"net"
	"syscall"
)

// poller is Linux's epoll set (poller_linux.go); elsewhere every connection
// reads on a goroutine of its own.
type poller struct{}

func sharedPoller() *poller { return nil }

func pollable(net.Conn) syscall.RawConn { return nil }

func (*poller) add(*conn, syscall.RawConn) error { return errors.ErrUnsupported }
func (*poller) rearm(*conn) error                { return errors.ErrUnsupported }
func (*poller) remove(*conn)                     {}

func readNow(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }

func writeNow(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
