package metrics_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind. The package
// starts none; the concurrency test's goroutines must all have ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
