package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/rtbroadcaster/rtbroadcaster/internal/bench"
)

// command is one subcommand of the binary.
type command struct {
	name, args, summary string
}

// commands are listed in this order by the usage text.
var commands = []command{
	{"serve", "[flags]", "run the server (the default command: `rtbroadcaster -addr :9000` serves too)"},
	{"bench", "[flags]", "load-test a server you run yourself"},
	{"version", "", "print the version and the commit it was built from"},
	{"help", "[command]", "print this help, or a command's flags"},
}

// run dispatches the subcommand; "serve" is the default.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runServe(ctx, args, stderr)
	}
	switch name, rest := args[0], args[1:]; name {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "bench":
		return bench.Run(ctx, rest, stdout, stderr)
	case "version":
		if len(rest) > 0 {
			return fmt.Errorf("version takes no arguments, got %q", rest)
		}
		info, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionLine(info))
		return nil
	case "help":
		return help(rest, stdout)
	default:
		return fmt.Errorf("unknown command %q; commands: %s (rtbroadcaster help lists them)", name, commandNames())
	}
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, stderr)
}

// help prints the overview, or one command's usage with its flags.
func help(args []string, w io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("help takes at most one command, got %q", args)
	}
	if len(args) == 0 {
		writeOverview(w)
		fmt.Fprintln(w, "\n`rtbroadcaster help serve` and `rtbroadcaster help bench` list their flags.")
		return nil
	}
	switch args[0] {
	case "serve":
		_, err := parseServeFlags([]string{"-h"}, w)
		return ignoreHelp(err)
	case "bench":
		return bench.Run(context.Background(), []string{"-h"}, w, w)
	case "version":
		fmt.Fprintln(w, "Usage: rtbroadcaster version\n\nPrints the version and the commit the binary was built from.")
		return nil
	case "help":
		writeOverview(w)
		return nil
	}
	return fmt.Errorf("help: unknown command %q; commands: %s", args[0], commandNames())
}

// ignoreHelp treats the flag package's "help was asked for" as success.
func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// writeOverview prints what the binary is and its commands.
func writeOverview(w io.Writer) {
	fmt.Fprintln(w, "rtbroadcaster: a real-time broadcast server (WebSocket rooms, one owner, many viewers).")
	fmt.Fprintln(w, "\nUsage:")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  rtbroadcaster %s %s\t%s\n", c.name, c.args, c.summary)
	}
	_ = tw.Flush()
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// version is the release's version when the build sets it
// (-ldflags "-X main.version=v1.2.0"); otherwise the Go toolchain's.
var version string

// versionLine says which build this is: its version, and the commit, its
// time and whether the tree had uncommitted changes, as the Go toolchain
// recorded them (nothing is recorded when building outside a git checkout).
func versionLine(info *debug.BuildInfo) string {
	v, commit, when, modified := version, "unknown", "", false
	if info != nil {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(unknown version)"
	}
	line := "rtbroadcaster " + v + " commit " + commit
	if when != "" {
		line += " (" + when + ")"
	}
	if modified {
		line += " with uncommitted changes"
	}
	if info != nil {
		line += " " + info.GoVersion
	}
	return line
}
