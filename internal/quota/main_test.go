package quota_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the package
// starts none, and every test closes its servers and connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
