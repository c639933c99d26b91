package connect_test

import (
	"testing"

	"github.com/onec-connect/connect-bridge/internal/natstest"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the
// client's watch loop and a Bulk's publishers must end with Close and
// Bulk.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}
