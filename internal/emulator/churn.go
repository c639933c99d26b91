package emulator

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/onec-connect/connect-bridge/internal/soap"
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
	s.churnAt = s.cfg.Now()
	now := s.stamp(s.churnAt)
	s.churning = true
	defer func() { s.churning = false }()
	kinds := churnKinds(s.cfg.ChurnKinds)
	for range n {
		s.cabinetChange(s.churnRng, kinds, now)
	}
}

// Change is one change the churn made to one object, as Config.OnChurn
// receives it: what a benchmark needs to time how soon a change feed
// publishes it.
type Change struct {
	// Object is the kind (see Put), e.g. ClientUser; ID the object's id.
	Object, ID string
	// What is "created", "edited" or "deleted".
	What string
	// At is the sandbox's clock (Config.Now, ClockOffset included) when
	// the change was made, to the nanosecond; the object's change time
	// (Object.Changed) is At in the account's time zone to the second.
	At time.Time
	// Row is the object after the change, as a read of its kind answers
	// it (Object.Row). An edit may leave it as it was: a person typing
	// the same surname again.
	Row map[string]soap.Value
}

// String names a change as Change.What does.
func (c change) String() string {
	switch c {
	case created:
		return "created"
	case edited:
		return "edited"
	case deleted:
		return "deleted"
	}
	return "unknown"
}

// reportChange hands one change of r to Config.OnChurn, when set.
// Callers hold s.mu, inside churn.
func (s *Server) reportChange(r *record, ch change) {
	if s.cfg.OnChurn == nil {
		return
	}
	s.cfg.OnChurn(Change{Object: r.kind, ID: r.id, What: ch.String(), At: s.churnAt, Row: snapshot(kinds[r.kind], r).Row})
}
