package benchrun

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Line 13: how long after the sandbox makes a change its event is in
// CONNECT_CHANGES, with the sandbox's churn making changes at a steady
// rate and a feed polling every 10 s.

// lagUsers are the client users seeded before the churn starts, for it
// to edit and delete; the feed's first poll publishes them (not timed).
const lagUsers = 1000

// madeChange is one change of a client user: which, and when the sandbox
// made it (its clock, to the nanosecond).
type madeChange struct {
	ID string
	At time.Time
}

// churnLog gathers the churn's changes of client users as the sandbox
// reports them (emulator.Config.OnChurn). An edit that leaves the user's
// row as it was (the same surname typed again) changes nothing a feed
// could publish: it is counted apart, not timed.
type churnLog struct {
	mu      sync.Mutex // protects everything below
	rows    map[string]map[string]soap.Value
	changes []madeChange
	noOps   int
}

// seed sets the rows the changes start from.
func (l *churnLog) seed(objs []emulator.Object) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = make(map[string]map[string]soap.Value, len(objs))
	for _, o := range objs {
		l.rows[o.ID] = o.Row
	}
}

// record is the sandbox's OnChurn: it runs under the sandbox's lock.
func (l *churnLog) record(c emulator.Change) {
	if c.Object != "ClientUser" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.rows[c.ID]; ok && reflect.DeepEqual(prev, c.Row) {
		l.noOps++
		return
	}
	l.rows[c.ID] = c.Row
	l.changes = append(l.changes, madeChange{ID: c.ID, At: c.At})
}

func (l *churnLog) snapshot() ([]madeChange, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]madeChange(nil), l.changes...), l.noOps
}

// lagMatch is how the changes were matched with events.
type lagMatch struct {
	// Lags are, for each change matched, its event's store time less the
	// change's time.
	Lags []time.Duration
	// InFlight counts changes matched with an event whose read started
	// just before the change yet saw it (the call reached the sandbox
	// after it): their lag is the event's store time too.
	InFlight int
	// Unmatched counts changes no event shows: a state changed back
	// before a poll saw it, or a change lost.
	Unmatched int
}

// matchLags matches each change with the event that first shows it: the
// first event of the object (in stream order) from a read that started
// at or after the change (its Seen); failing that, the first event of the
// object stored after the change, from a read in flight when the change
// was made. Both clocks are this machine's.
func matchLags(changes []madeChange, events []storedEvent) lagMatch {
	byID := map[string][]storedEvent{}
	for _, e := range events {
		byID[e.ID] = append(byID[e.ID], e)
	}
	var m lagMatch
	for _, c := range changes {
		es := byID[c.ID]
		found := false
		for _, e := range es {
			if !e.Seen.Before(c.At) {
				m.Lags = append(m.Lags, e.Stored.Sub(c.At))
				found = true
				break
			}
		}
		if found {
			continue
		}
		for _, e := range es {
			if !e.Stored.Before(c.At) {
				m.Lags = append(m.Lags, e.Stored.Sub(c.At))
				m.InFlight++
				found = true
				break
			}
		}
		if !found {
			m.Unmatched++
		}
	}
	return m
}

// feedLag is the line-13 measurement.
type feedLag struct {
	lagMatch
	Churn    float64 // changes a minute, every kind
	Interval time.Duration
	For      time.Duration // how long the churn ran
	Changes  int           // changes of client users that changed a row
	NoOps    int           // edits of client users that changed nothing
	Polls    int64         // the feed's complete polls while the churn ran and after
}

// feedLagRun runs the churn at churn changes a minute for d while the
// worker bin polls every interval, then waits for a poll that started
// after the last change, and matches each change with its event.
func feedLagRun(ctx context.Context, bin string, churn float64, interval, d time.Duration) (feedLag, error) {
	log := &churnLog{}
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}, Churn: churn, OnChurn: log.record})
	if err != nil {
		return feedLag{}, err
	}
	defer e.Close()
	if _, err := e.emu.SeedObjects("ClientUser", lagUsers); err != nil {
		return feedLag{}, err
	}
	log.seed(e.emu.Objects("ClientUser"))
	w, err := startFeedWorker(ctx, e, bin, e.api, interval)
	if err != nil {
		return feedLag{}, err
	}
	defer w.stop()
	fail := func(err error) (feedLag, error) {
		return feedLag{}, fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	// The backfill's poll first: the churn starts once it is stored.
	first, err := waitMarker(ctx, e.js, 0, 2*time.Minute, w.exited)
	if err != nil {
		return fail(err)
	}
	st0, err := markerState(first)
	if err != nil {
		return fail(err)
	}
	cctx, stop := context.WithCancel(ctx)
	churned := make(chan error, 1)
	go func() { churned <- e.emu.Run(cctx) }()
	select {
	case <-time.After(d):
	case err := <-w.exited:
		stop()
		<-churned
		return fail(fmt.Errorf("the worker exited: %v", err))
	case <-ctx.Done():
	}
	stop()
	if err := <-churned; err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return feedLag{}, ctx.Err()
	}
	ended := time.Now()
	// Caught up: a complete poll whose call started after the last change.
	last := first
	for {
		st, err := markerState(last)
		if err != nil {
			return fail(err)
		}
		if st.LastPoll.After(ended) {
			break
		}
		if last, err = waitMarker(ctx, e.js, last.Revision(), 2*interval+time.Minute, w.exited); err != nil {
			return fail(err)
		}
	}
	st1, err := markerState(last)
	if err != nil {
		return fail(err)
	}
	events, err := readChanges(ctx, e.js)
	if err != nil {
		return fail(err)
	}
	changes, noOps := log.snapshot()
	return feedLag{
		lagMatch: matchLags(changes, events),
		Churn:    churn, Interval: interval, For: d,
		Changes: len(changes), NoOps: noOps, Polls: st1.Polls - st0.Polls,
	}, nil
}

// feedLagLine is line 13.
func (r *runner) feedLagLine(ctx context.Context) error {
	dir, bin, err := buildWorker(ctx, r.cfg.Root)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const interval = 10 * time.Second
	l, err := feedLagRun(ctx, bin, r.cfg.FeedChurn, interval, r.cfg.FeedLagFor)
	if err != nil {
		return err
	}
	if len(l.Lags) == 0 {
		return fmt.Errorf("no change of a client user was matched with an event (%d changes, %d unmatched)", l.Changes, l.Unmatched)
	}
	p99 := Percentile(l.Lags, 99)
	r.logf("  %d changes, p50 %s, p99 %s, %d polls", l.Changes, Percentile(l.Lags, 50), p99, l.Polls)
	bound := interval + feedLagSlack
	r.add(Row{Line: "13", Metric: fmt.Sprintf("feed lag under churn: change in the sandbox → its event stored in CONNECT_CHANGES, feed every %s", interval),
		Value: fmt.Sprintf("p50 %s, p99 %s, max %s over %d changes of client users (churn %s changes/min of every kind for %s, %d polls); %d seen by a read in flight, %d unmatched, %d edits that changed nothing (not timed)",
			secs(Percentile(l.Lags, 50)), secs(p99), secs(Percentile(l.Lags, 100)), len(l.Lags), formatCount(l.Churn), l.For, l.Polls, l.InFlight, l.Unmatched, l.NoOps),
		Target: fmt.Sprintf("p99 ≤ %s, none unmatched", bound), Met: met(p99 <= bound && l.Unmatched == 0)})
	r.note("13", "Line 13: the real worker binary (`go build ./cmd/worker`) as a child process with --feed %s=%s (overlap 60s, chunk 256), serving ClientUserEdit only (no command is sent), local quota with limits off, against the sandbox of the harness seeded with %s client users; once the feed's first poll (the backfill) has stored its marker, the sandbox's churn (emulator Run, %s changes a minute of every change-tracked kind, about 40%% of them client users) runs for %s, then the harness waits for a complete poll that started after the last change. Each change of a client user is reported by the sandbox with the moment it was made (emulator.Config.OnChurn); its lag is the time CONNECT_CHANGES stored (JetStream's timestamp) the first event of that user whose read started at or after the change (the event's seen), or, for a change made while a read was in flight and seen by it, the first event stored after the change. Edits that left the row as it was publish nothing and are left out. A change waits for the next poll, so the lag is spread over the interval: p50 about half of it, p99 near all of it, plus the poll's own time; the target allows the interval and %s.",
		feedRead, interval, formatCount(lagUsers), formatCount(l.Churn), l.For, feedLagSlack)
	return nil
}

// feedLagSlack is what line 13's target allows above the interval: one
// poll's call, decoding and stores, with the machine shared.
const feedLagSlack = time.Second

// secs writes a duration in seconds, to the millisecond.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
