package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeBlock returns the lines of README.md between the markers
// <!-- name:start --> and <!-- name:end -->, without code fences.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- "+name+":start -->\n")
	block, _, ok2 := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok || !ok2 {
		t.Fatalf("README.md has no block between <!-- %s:start --> and <!-- %s:end -->", name, name)
	}
	var lines []string
	for _, line := range strings.SplitAfter(block, "\n") {
		if !strings.HasPrefix(line, "```") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "")
}

// TestREADMECurlExamples runs the README's HTTP API examples, exactly as
// written, with curl against the binary: a room is created, fed,
// described, listed and closed.
func TestREADMECurlExamples(t *testing.T) {
	for _, tool := range []string{"curl", "bash", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (CI=true: this test must run)", tool)
			}
			t.Skipf("skipping: %s is not installed", tool)
		}
	}
	script := readmeBlock(t, "api-examples")
	const key = "readme-example-key"
	base := strings.TrimSuffix(startNode(t, buildBinary(t), "-api-key", key), "/")
	cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "RTB="+base, "RTB_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s\n--- script:\n%s", err, out, script)
	}
	for _, want := range []string{`{"seq":1}`, `"seq":1,"owner":"none","stateMessages":1,"stateBytes":`, `{"rooms":[{"uuid":"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the examples' output lacks %s:\n%s", want, out)
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/rooms", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `"rooms":[]`) {
		t.Errorf("after the examples' DELETE the server lists %s", body)
	}
}
