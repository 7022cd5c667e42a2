package main

import (
	"context"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// TestUsageListsTheCommands runs what a newcomer types first: each must
// succeed and name every command, and -h must go on to the server's flags.
func TestUsageListsTheCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"serve", "-h"}, {"--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("rtbroadcaster %s: %v", strings.Join(args, " "), err)
			}
			out := stdout.String() + stderr.String()
			for _, cmd := range []string{"rtbroadcaster serve", "rtbroadcaster bench", "rtbroadcaster version", "rtbroadcaster help"} {
				if !strings.Contains(out, cmd) {
					t.Errorf("the usage does not list %q:\n%s", cmd, out)
				}
			}
			if args[0] != "help" && !strings.Contains(out, "-max-viewers") {
				t.Errorf("-h does not list the server's flags:\n%s", out)
			}
		})
	}
}

func TestHelpForEachCommand(t *testing.T) {
	for cmd, want := range map[string]string{
		"serve":   "-allowed-origins",
		"bench":   "Usage: rtbroadcaster bench",
		"version": "Usage: rtbroadcaster version",
		"help":    "rtbroadcaster help [command]",
	} {
		t.Run(cmd, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(context.Background(), []string{"help", cmd}, &stdout, &stderr); err != nil {
				t.Fatalf("rtbroadcaster help %s: %v", cmd, err)
			}
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("rtbroadcaster help %s printed no %q on stdout:\n%s\nstderr:\n%s", cmd, want, stdout.String(), stderr.String())
			}
		})
	}
}

func TestUnknownCommandNamesTheCommands(t *testing.T) {
	for _, args := range [][]string{{"sevre"}, {"help", "sevre"}} {
		err := run(context.Background(), args, &strings.Builder{}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), `"sevre"`) || !strings.Contains(err.Error(), "serve, bench, version, help") {
			t.Errorf("rtbroadcaster %s: err %v, want one naming the command and listing the commands", strings.Join(args, " "), err)
		}
	}
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "2eea49d0c0ffee"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := versionLine(info), "rtbroadcaster v1.4.0 commit 2eea49d0c0ffee (2026-05-01T10:00:00Z) with uncommitted changes go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got, want := versionLine(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}), "rtbroadcaster (devel) commit unknown go1.26.8"; got != want {
		t.Errorf("without VCS information: versionLine = %q, want %q", got, want)
	}
	version = "v2.0.0" // as -ldflags "-X main.version=v2.0.0" sets it
	defer func() { version = "" }()
	if got := versionLine(info); !strings.HasPrefix(got, "rtbroadcaster v2.0.0 commit 2eea49d0c0ffee") {
		t.Errorf("with main.version set: versionLine = %q", got)
	}
}

// TestBinaryVersionAndHelp runs the built binary as a user would: version
// and help succeed on stdout, an unknown command fails with the list.
func TestBinaryVersionAndHelp(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("rtbroadcaster version: %v", err)
	}
	if !regexp.MustCompile(`^rtbroadcaster \S+ commit (unknown|[0-9a-f]{40})\b.* go1\.\d+`).Match(out) {
		t.Errorf("rtbroadcaster version printed %q", out)
	}
	out, err = exec.Command(bin, "help").Output()
	if err != nil || !strings.Contains(string(out), "rtbroadcaster bench") {
		t.Errorf("rtbroadcaster help: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "sevre").CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), `unknown command "sevre"`) {
		t.Errorf("rtbroadcaster sevre: %v\n%s", err, out)
	}
}
