package rtbroadcaster_test

import (
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// connection, writer and timer must end with its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.IgnoreRedials) }
