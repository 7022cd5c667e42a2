package client_test

import (
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/internal/depstest"
)

// TestClientLinksNoServer: the client speaks the protocol through package
// protocol; linking the server would bring its metrics, JWT and engines
// into every program that only connects to one.
func TestClientLinksNoServer(t *testing.T) {
	for _, dep := range depstest.NonStandard(t, ".") {
		module, inModule := strings.CutPrefix(dep, "github.com/rtbroadcaster/rtbroadcaster")
		switch {
		case inModule && module != "/client" && module != "/protocol":
			t.Errorf("the client links %s: only package protocol of this module may be", dep)
		case strings.HasPrefix(dep, "github.com/prometheus/"), strings.HasPrefix(dep, "github.com/golang-jwt/"),
			strings.HasPrefix(dep, "google.golang.org/protobuf/"), strings.HasPrefix(dep, "github.com/redis/"):
			t.Errorf("the client links %s, a dependency of the server", dep)
		}
	}
}
