package bench

import (
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/internal/depstest"
)

// TestBenchLinksNoServer: the load tool measures a server from outside,
// through package protocol; linking the server would also put the
// server's init work and memory into the process that measures it.
func TestBenchLinksNoServer(t *testing.T) {
	for _, dep := range depstest.NonStandard(t, ".") {
		module, inModule := strings.CutPrefix(dep, "github.com/rtbroadcaster/rtbroadcaster")
		switch {
		case inModule && module != "/internal/bench" && module != "/protocol":
			t.Errorf("the bench links %s: only package protocol of this module may be", dep)
		case strings.HasPrefix(dep, "github.com/prometheus/"), strings.HasPrefix(dep, "github.com/golang-jwt/"),
			strings.HasPrefix(dep, "google.golang.org/protobuf/"), strings.HasPrefix(dep, "github.com/redis/"):
			t.Errorf("the bench links %s, a dependency of the server", dep)
		}
	}
}
