package protocol_test

import (
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/internal/depstest"
)

// TestProtocolIsALeaf: whoever speaks the protocol, the server, the Go
// client or the load tool, gets the standard library with it and nothing
// else.
func TestProtocolIsALeaf(t *testing.T) {
	for _, dep := range depstest.NonStandard(t, ".") {
		if dep != "github.com/rtbroadcaster/rtbroadcaster/protocol" {
			t.Errorf("package protocol depends on %s: it may import only the standard library", dep)
		}
	}
}
