// Package depstest lets a package's tests assert what the package links,
// such as that the Go client does not link the server, by asking the go
// command for its dependencies.
package depstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NonStandard returns the import paths of the packages outside the
// standard library that pattern (as go list takes it, "." for the package
// under test) depends on, itself included, test files excluded. Without a
// go command on the PATH the test is skipped, unless CI=true, where it fails.
func NonStandard(t testing.TB, pattern string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("listing the dependencies of %s needs the go command: %v", pattern, err)
		}
		t.Skipf("listing the dependencies of %s needs the go command: %v", pattern, err)
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pattern).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pattern, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}
