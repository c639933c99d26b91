package worker_test

import (
	"testing"

	"github.com/onec-connect/connect-bridge/internal/natstest"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: no lane,
// finisher, sweeper or call may outlive its worker's Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}
