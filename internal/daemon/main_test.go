package daemon_test

import (
	"testing"

	"github.com/onec-connect/connect-bridge/internal/natstest"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: Run must
// not return while anything it started still runs.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}
