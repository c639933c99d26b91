package emulator

import (
	"context"
	"errors"
	"math"
	"time"
)

// The churn's pace: it wakes at most every minChurnPeriod and makes the
// changes due since it started, at most maxChurnBurst at once, so that a
// stalled process catches up by skipping changes rather than holding the
// lock for long.
const (
	minChurnPeriod = 10 * time.Millisecond
	maxChurnBurst  = 1000
)

// ErrRunning is Run's error when the Server's churn runs already.
var ErrRunning = errors.New("emulator: Run is running already")

// Run changes the store on its own until ctx ends, then returns nil:
// Config.Churn changes a minute, spread evenly, each one an object of a
// change-tracked kind (client users most, specialists, line connections,
// clients, client departments, departments, competences, lines) created,
// edited or deleted as people in the web cabinet do, stamped with the
// sandbox's clock. The changes are drawn from a random source of their
// own seeded by Config.Seed: equal seeds, equal API calls between them
// and equal timing make equal changes. Its waits are the time package's
// ticks, so inside a testing/synctest bubble the churn runs in simulated
// time. With Churn zero it only waits for ctx. One Run at a time: a
// second is refused with ErrRunning.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	rate := s.cfg.Churn // changes a minute
	if rate == 0 {
		<-ctx.Done()
		return nil
	}
	tk := time.NewTicker(max(time.Duration(float64(time.Minute)/rate), minChurnPeriod))
	defer tk.Stop()
	start := time.Now()
	var done int64 // changes made or skipped since start
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-tk.C:
			due := churnDue(rate, t.Sub(start), done)
			if due > maxChurnBurst {
				done += due - maxChurnBurst
				due = maxChurnBurst
			}
			s.churn(int(due))
			done += due
		}
	}
}

// churnDue returns how many changes are due after elapsed at rate
// changes a minute, done being made already.
func churnDue(rate float64, elapsed time.Duration, done int64) int64 {
	return int64(math.Floor(rate*elapsed.Minutes())) - done
}

// churn makes n changes at the sandbox's current time.
func (s *Server) churn(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp(s.cfg.Now())
	s.churning = true
	defer func() { s.churning = false }()
	kinds := churnKinds(s.cfg.ChurnKinds)
	for range n {
		s.cabinetChange(s.churnRng, kinds, now)
	}
}
