package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/lease"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// Budget is what an estimate reads of the quota: *quota.Reader, of the
// workers' windows and limits.
type Budget interface {
	Windows() quota.Windows
	Limit(op string, t time.Time) (int, error)
	Status(ctx context.Context, ops []string, at time.Time) ([]quota.Status, error)
}

// StatusConfig says which exports Status reports, and how it estimates.
type StatusConfig struct {
	// Names of the buckets; zero fields take the defaults.
	Names Names
	// Exports are the exports to report. One with a Name only (an export
	// whose state is stored but which this process does not configure)
	// gets its state and lease, not what is left.
	Exports []Export
	// Share is the exports' part of each read's limit, as the workers'
	// Config.Share. Defaults to 0.5.
	Share float64
	// Budget reads the quota for the estimates; nil makes none.
	Budget Budget
}

// ExportStatus is one export as `worker exports` shows it.
type ExportStatus struct {
	Export
	State
	// Held reports whether a replica holds the export's lease now.
	Held bool
	// Left is the history still to read: from the marker to now less
	// the settle; Chunks the chunks of Chunk it takes.
	Left   time.Duration
	Chunks int
	// NextRead is when the next read is due once the export has caught
	// up (the last read plus the interval); zero while it is behind (it
	// reads as soon as the quota grants).
	NextRead time.Time
	// Estimate is when the exports of its read will have read what they
	// have left, at the current limits; nil without a Budget, or for an
	// export this process does not configure.
	Estimate *Estimate
}

// Status reads the stored state of exports, as any replica (or a tool)
// sees them, and estimates when each read's exports are done.
func Status(ctx context.Context, js jetstream.JetStream, sc StatusConfig, now time.Time) ([]ExportStatus, error) {
	names := sc.Names.withDefaults()
	markers, err := js.KeyValue(ctx, names.MarkerBucket)
	if err != nil {
		return nil, fmt.Errorf("export: bucket %s: %w", names.MarkerBucket, err)
	}
	leases, err := js.KeyValue(ctx, names.LeaseBucket)
	if err != nil {
		return nil, fmt.Errorf("export: bucket %s: %w", names.LeaseBucket, err)
	}
	s := &store{markers: markers}
	out := make([]ExportStatus, 0, len(sc.Exports))
	for _, x := range sc.Exports {
		x = x.withDefaults()
		st, _, err := s.state(ctx, x.Name)
		if err != nil {
			return nil, err
		}
		es := ExportStatus{Export: x, State: st}
		if !st.Marker.IsZero() {
			es.Left, es.Chunks = left(st.Marker, now, time.Duration(x.Settle), time.Duration(x.Chunk))
			if es.Left < time.Duration(x.Chunk) && !st.LastRead.IsZero() {
				es.NextRead = st.LastRead.Add(time.Duration(x.Interval))
			}
		}
		if es.Held, err = lease.Held(ctx, leases, x.Name); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		out = append(out, es)
	}
	if sc.Budget != nil {
		if err := estimate(ctx, out, sc, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// estimate sets the Estimate of every export of out with a read: one per
// read, for its exports together, since they spend one share.
func estimate(ctx context.Context, out []ExportStatus, sc StatusConfig, now time.Time) error {
	part := sc.Share
	if part == 0 {
		part = 0.5
	}
	w := sc.Budget.Windows()
	byOp := map[string][]int{}
	var ops []string
	for i, es := range out {
		if es.Op == "" || es.Chunk == 0 {
			continue
		}
		if byOp[es.Op] == nil {
			ops = append(ops, es.Op)
		}
		byOp[es.Op] = append(byOp[es.Op], i)
	}
	for _, op := range ops {
		e := &Estimate{Exports: len(byOp[op])}
		nightOnly := w.Night.IsSet()
		for _, i := range byOp[op] {
			e.Calls += out[i].Chunks
			nightOnly = nightOnly && out[i].NightBackfill
		}
		capacity := func(start time.Time) int {
			if nightOnly && !w.IsNight(start) {
				return 0
			}
			limit, err := sc.Budget.Limit(op, start)
			if err != nil {
				return 0
			}
			return shareOf(limit, part)
		}
		first := capacity(now)
		st, err := sc.Budget.Status(ctx, []string{op}, now)
		switch {
		case err == nil && len(st) == 1:
			// The ledger counts the read's calls, not the exports' own:
			// what is left of the window bounds the share's.
			e.Ledger = true
			first = min(first, st[0].Remaining())
		case err != nil && !errors.Is(err, quota.ErrNoLedger):
			return fmt.Errorf("export: estimate of %s: %w", op, err)
		}
		next := w.Start(now).Add(w.Length)
		e.PerHour = float64(capacity(next)) * float64(time.Hour) / float64(w.Length)
		if at, ok := forecast(forecastInput{now: now, w: w, calls: e.Calls, first: first, capacity: capacity}); ok {
			e.Finish = at
		}
		for _, i := range byOp[op] {
			out[i].Estimate = e
		}
	}
	return nil
}
