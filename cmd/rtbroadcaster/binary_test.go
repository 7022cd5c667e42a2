package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// listeningURL matches the log line that says where the server listens.
const listeningURL = `msg=listening url=(http://\S+/)`

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// buildBinary builds the command once for all the tests that run it as a
// process, as users do.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "rtbroadcaster-test-"); built.err == nil {
			built.out, built.err = exec.Command("go", "build", "-o", filepath.Join(built.dir, "rtbroadcaster"), ".").CombinedOutput()
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "rtbroadcaster")
}

// waitForURLs reads a server's log until each pattern has matched a line,
// and returns their first submatches in order; it keeps draining the log so
// that the server never blocks on it.
func waitForURLs(t *testing.T, logs io.Reader, patterns ...string) []string {
	t.Helper()
	found := make(chan []string, 1)
	go func() {
		res := make([]*regexp.Regexp, len(patterns))
		for i, p := range patterns {
			res[i] = regexp.MustCompile(p)
		}
		urls, missing := make([]string, len(patterns)), len(patterns)
		lines := bufio.NewScanner(logs)
		for lines.Scan() {
			for i, re := range res {
				if m := re.FindStringSubmatch(lines.Text()); m != nil && urls[i] == "" {
					urls[i] = m[1]
					if missing--; missing == 0 {
						found <- urls
					}
				}
			}
		}
	}()
	select {
	case urls := <-found:
		return urls
	case <-time.After(30 * time.Second):
		t.Fatalf("the server never logged %q", patterns)
		return nil
	}
}
