package worker

import (
	"sync"
	"time"
)

// authGate stops every lane from calling the API after it refused the
// credentials, and lets one call through every AuthRetry to see whether
// they work again.
type authGate struct {
	retry time.Duration

	mu      sync.Mutex // protects failing, next, last
	failing bool
	next    time.Time // when the next probe may go
	last    error
}

func (a *authGate) block(now time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failing, a.next, a.last = true, now.Add(a.retry), err
}

// allow reports whether a call may go now; while failing, one call per
// AuthRetry goes as a probe.
func (a *authGate) allow(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.failing {
		return true
	}
	if now.Before(a.next) {
		return false
	}
	a.next = now.Add(a.retry)
	return true
}

func (a *authGate) ok() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failing, a.last = false, nil
}

func (a *authGate) ready() bool { return a.err() == nil }

func (a *authGate) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return a.last
	}
	return nil
}

// until returns when the next probe may go, zero when not failing.
func (a *authGate) until() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.failing {
		return time.Time{}
	}
	return a.next
}
