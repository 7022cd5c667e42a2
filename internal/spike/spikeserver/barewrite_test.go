package main

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBareWrite is the floor of a fan-out on this machine: a 290-byte
// write(2) to each of n loopback sockets, from GOMAXPROCS writers, with a
// reader per socket in the same process (as the bench reads). It reports
// the process's CPU per write (writer and reader sides together, kernel
// included) to compare with the bench's server CPU plus bench CPU per
// delivery:
//
//	go test -run '^$' -bench BareWrite -benchtime 100x ./internal/spike/spikeserver
//
// One op is one message to every socket.
func BenchmarkBareWrite(b *testing.B) {
	for _, n := range []int{1000, 9000} { // both ends in one process: 9,000 pairs fit in 20,000 open files
		b.Run(fmt.Sprintf("%d-sockets", n), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			servers := make([]net.Conn, 0, n)
			var readers sync.WaitGroup
			for range n {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Skipf("dial %d: %v (open files?)", len(servers), err)
				}
				s, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				servers = append(servers, s)
				readers.Add(1)
				go func() {
					defer readers.Done()
					buf := make([]byte, 4096)
					for {
						if _, err := c.Read(buf); err != nil {
							_ = c.Close()
							return
						}
					}
				}()
			}
			defer func() {
				for _, s := range servers {
					_ = s.Close()
				}
				readers.Wait()
			}()
			frame := serverFrame(opText, make([]byte, 290))
			workers := runtime.GOMAXPROCS(0)
			per := (n + workers - 1) / workers
			before := cpuTime()
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				for i := 0; i < n; i += per {
					part := servers[i:min(i+per, n)]
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, s := range part {
							if _, err := s.Write(frame); err != nil && err != io.EOF {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			b.StopTimer()
			cpu := cpuTime() - before
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/write")
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/write")
		})
	}
}

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
