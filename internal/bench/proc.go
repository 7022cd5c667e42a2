package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ), 100 on
// every Linux the bench runs on.
const clockTicks = 100

// rssKiB is a process's resident memory, from /proc/PID/status.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// cpuTime is the user plus system time a process has used, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces: count fields after its ')'.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// ownCPUTime is the user plus system time of this process.
func ownCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU a process uses over an interval, as a percentage
// of one core.
type cpuMeter struct {
	pid             int // 0: none
	start           time.Time
	server, ownBase time.Duration
}

func startCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now(), ownBase: ownCPUTime()}
	if pid > 0 {
		m.server, _ = cpuTime(pid)
	}
	return m
}

// percent returns the server's and the bench's CPU since start, in % of a core.
func (m *cpuMeter) percent() (server, own float64) {
	wall := time.Since(m.start).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	own = 100 * (ownCPUTime() - m.ownBase).Seconds() / wall
	if m.pid > 0 {
		if t, err := cpuTime(m.pid); err == nil {
			server = 100 * (t - m.server).Seconds() / wall
		}
	}
	return server, own
}

// raiseOpenFiles raises the soft open-files limit to the hard one and checks
// that need descriptors fit.
func raiseOpenFiles(need int) (limit uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if uint64(need) > rl.Cur {
		return rl.Cur, fmt.Errorf("open-files limit: %d connections need about %d descriptors, but RLIMIT_NOFILE is %d (hard %d); raise it (ulimit -n) or run several bench processes", need-fdMargin, need, rl.Cur, rl.Max)
	}
	return rl.Cur, nil
}

// fdMargin is the descriptors the bench needs besides its connections.
const fdMargin = 32

// portRange is the number of ephemeral ports per source address.
func portRange() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 28232
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return hi - lo + 1
}
