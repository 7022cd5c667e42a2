package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeCommand is the command the README shows between the markers
// <!-- readme-test:name --> and <!-- /readme-test:name -->, in a sh block.
func readmeCommand(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- readme-test:" + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)\n```\n<!-- /readme-test:" + regexp.QuoteMeta(name) + " -->")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README.md has no command marked readme-test:%s", name)
	}
	return string(m[1])
}

// curlStream runs a README command in sh, with SERVER and ROOM set as the
// README tells readers to, and returns its output's lines as they come, and
// a channel that gets its exit.
func curlStream(t *testing.T, command, server, room string) (lines chan string, exited chan error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed to run the README's curl examples")
		}
		t.Skip("no curl: the README's curl examples are not run")
	}
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = append(os.Environ(), "SERVER="+server, "ROOM="+room)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines, exited = make(chan string, 1024), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		exited <- err
	}()
	return lines, exited
}

// nextData returns the data of the next event whose data has funcKey (or,
// with funcKey "", the next event), and the id: before it.
func nextData(t *testing.T, lines chan string, funcKey string) (data map[string]any, id string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("curl's output ended before an event with funcKey %q", funcKey)
			}
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			raw, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			if err := json.Unmarshal([]byte(raw), &data); err != nil {
				t.Fatalf("data %q: %v", raw, err)
			}
			if funcKey == "" || data["funcKey"] == funcKey {
				return data, id
			}
			id = ""
		case <-deadline:
			t.Fatalf("no event with funcKey %q from curl within 10 s", funcKey)
		}
	}
}

// TestReadmeCurlFollowsRoom runs the README's curl commands, as they stand,
// against the server: one follows a room from its start to its end, the
// other resumes from Last-Event-ID 5 and gets exactly what followed it.
func TestReadmeCurlFollowsRoom(t *testing.T) {
	base := startNode(t, buildBinary(t))
	server := strings.TrimSuffix(base, "/")
	owner := dialNode(t, base)
	owner.send(t, `{"uuid":"","status":{"value":1,"text":"new connection"},"funcKey":"","funcParams":[],"stateMessage":false}`)
	room := owner.next(t).UUID
	broadcast := func(funcKey, param string, state bool) {
		owner.send(t, fmt.Sprintf(`{"uuid":%q,"status":{"value":3,"text":"connected"},"funcKey":%q,"funcParams":[%q],"stateMessage":%v}`, room, funcKey, param, state))
	}
	broadcast("goToSlide", "1", true) // seq 1

	follow, followed := curlStream(t, readmeCommand(t, "sse-follow"), server, room)
	if reply, _ := nextData(t, follow, ""); reply["uuid"] != room || reply["stateCount"] != 1.0 {
		t.Fatalf("join reply %v", reply)
	}
	if m, id := nextData(t, follow, "goToSlide"); m["funcParams"].([]any)[0] != "1" || id != "1" {
		t.Fatalf("state replay %v, id %q", m, id)
	}
	for i := 2; i <= 7; i++ {
		broadcast("step", fmt.Sprint(i), false)
	}
	for i := 2; i <= 7; i++ {
		if m, id := nextData(t, follow, "step"); id != fmt.Sprint(i) || m["seq"] != float64(i) {
			t.Fatalf("live event %v with id %q, want seq %d", m, id, i)
		}
	}

	resume, resumed := curlStream(t, readmeCommand(t, "sse-resume"), server, room)
	if reply, _ := nextData(t, resume, ""); reply["recovered"] != true || reply["seq"] != 5.0 {
		t.Fatalf("resume from 5: reply %v", reply)
	}
	for i := 6; i <= 7; i++ {
		if m, id := nextData(t, resume, "step"); id != fmt.Sprint(i) {
			t.Fatalf("resumed event %v with id %q, want %d", m, id, i)
		}
	}

	owner.send(t, fmt.Sprintf(`{"uuid":%q,"status":{"value":4,"text":"close connection"},"funcKey":"","funcParams":[],"stateMessage":false}`, room))
	for name, out := range map[string]chan string{"follow": follow, "resume": resume} {
		if end, id := nextData(t, out, ""); end["status"].(map[string]any)["value"] != 0.0 || id != "8" {
			t.Fatalf("%s: end of the room %v, id %q", name, end, id)
		}
		var rest []string
		for line := range out {
			rest = append(rest, line)
		}
		if got := strings.Join(rest, "\n"); !strings.Contains(got, "event: close\ndata: {\"code\":1000,\"reason\":\"room closed\"}") {
			t.Fatalf("%s: after the end of the room, curl printed %q", name, got)
		}
	}
	for name, exited := range map[string]chan error{"follow": followed, "resume": resumed} {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("%s: curl: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: curl still running after the room closed", name)
		}
	}
}

// TestBinaryDrainsSSEViewers: on SIGTERM the server tells an SSE viewer
// when to come back (a close event 1001 with retry:) and exits at once:
// the HTTP server's shutdown, which waits for the streams, does not wait
// for the shutdown timeout.
func TestBinaryDrainsSSEViewers(t *testing.T) {
	cmd := exec.Command(buildBinary(t), "serve", "-addr", "127.0.0.1:0", "-shutdown-timeout", "20s", "-drain-spread", "2s")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := waitForURLs(t, stderr, listeningURL)[0]

	owner := dialNode(t, base)
	owner.send(t, `{"uuid":"","status":{"value":1,"text":"new connection"},"funcKey":"","funcParams":[],"stateMessage":false}`)
	room := owner.next(t).UUID
	resp, err := http.Get(base + "rooms/" + room + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if first, second := <-lines, <-lines; first != "id: 0" || !strings.HasPrefix(second, "data: ") {
		t.Fatalf("the stream began with %q, %q; want the join reply numbered 0", first, second)
	}
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	got := strings.Join(rest, "\n")
	if !regexp.MustCompile(`retry: \d+\nevent: close\ndata: \{"code":1001,"reason":"server shutting down; reconnect in \d+ ms"\}`).MatchString(got) {
		t.Fatalf("after SIGTERM the stream carried %q, want a close event 1001 with retry:", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	if d := time.Since(signalled); d > 5*time.Second {
		t.Fatalf("exited %v after SIGTERM: it waited for the streams", d)
	}
}
