package enqueue

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// TestOpTrackCountsTheRunsCalls: the calls granted since the run's first
// read, window after window, and those still in flight.
func TestOpTrackCountsTheRunsCalls(t *testing.T) {
	t.Parallel()
	w0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // reset of the first window
	st := func(reset time.Time, used int) quota.Status {
		return quota.Status{Op: "ClientUserEdit", Limit: 10, Used: used, Reset: reset}
	}
	tests := []struct {
		name         string
		reads        []quota.Status
		answered     int
		wantGranted  int
		wantInFlight int
	}{
		{name: "the first read is the base", reads: []quota.Status{st(w0, 4)}, wantGranted: 0, wantInFlight: 0},
		{name: "more calls in the same window", reads: []quota.Status{st(w0, 4), st(w0, 7)}, wantGranted: 3, wantInFlight: 3},
		{name: "answered calls are not in flight", reads: []quota.Status{st(w0, 4), st(w0, 7)}, answered: 2, wantGranted: 3, wantInFlight: 1},
		{
			name:        "a later window: all its calls",
			reads:       []quota.Status{st(w0, 4), st(w0, 10), st(w0.Add(time.Hour), 2)},
			answered:    6,
			wantGranted: 8, wantInFlight: 2,
		},
		{
			name:        "in flight at most the calls of this window",
			reads:       []quota.Status{st(w0, 0), st(w0, 10), st(w0.Add(time.Hour), 1)},
			answered:    3, // seven calls failed and were never answered
			wantGranted: 11, wantInFlight: 1,
		},
		{name: "an older window changes nothing", reads: []quota.Status{st(w0, 4), st(w0, 6), st(w0.Add(-time.Hour), 9)}, wantGranted: 2, wantInFlight: 2},
		{name: "a count that went down (a lost bucket) adds nothing", reads: []quota.Status{st(w0, 4), st(w0, 1)}, wantGranted: 0, wantInFlight: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &opTrack{known: true, answered: map[string]struct{}{}}
			for _, s := range tt.reads {
				tr.update(s)
			}
			for i := range tt.answered {
				tr.answered[string(rune('a'+i))] = struct{}{}
			}
			require.Equal(t, tt.wantGranted, tr.granted)
			require.Equal(t, tt.wantInFlight, tr.inFlight(len(tr.answered)))
		})
	}
}

// TestEstimatorMeasuresCalls: the first call's latency from the read
// that saw it granted, then the median spacing of answers in one
// window; a configured call time wins; a call's rows still to come are
// followed.
func TestEstimatorMeasuresCalls(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		configured time.Duration
		answers    []time.Duration // after start, one new call each
		want       time.Duration
		settled    bool
	}{
		{name: "nothing answered: unknown", want: 0},
		{name: "one answer: its latency", answers: []time.Duration{325 * time.Millisecond}, want: 300 * time.Millisecond},
		{name: "then the median spacing", answers: []time.Duration{325 * time.Millisecond, 425 * time.Millisecond, 900 * time.Millisecond, 1100 * time.Millisecond}, want: 200 * time.Millisecond},
		{name: "not across windows", answers: []time.Duration{325 * time.Millisecond, time.Hour + 3*time.Second}, want: 300 * time.Millisecond},
		{name: "configured wins", configured: 2 * time.Second, answers: []time.Duration{325 * time.Millisecond, 425 * time.Millisecond}, want: 2 * time.Second, settled: true},
		{name: "settled after eight spacings", answers: []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms, 600 * ms, 700 * ms, 800 * ms, 900 * ms}, want: 100 * ms, settled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := quota.NewReader(quota.ReaderConfig{Config: quota.Config{
				Windows: quota.Windows{Length: time.Hour, Location: time.UTC},
				Limits:  quota.Limits{Catalogue: func(string) (int, int, bool) { return 225, 225, true }}}})
			require.NoError(t, err)
			var clock time.Time
			e := newEstimator(r, nil, tt.configured, func() time.Time { return clock }, func(string, ...any) {})
			tr := &opTrack{known: true, answered: map[string]struct{}{}}
			e.ops["ClientUserEdit"] = tr
			// Reads at +0 (nothing granted) and +50 ms (one call): granted
			// at +25 ms, as far as the reads tell.
			reset := start.Add(time.Hour)
			tr.update(quota.Status{Used: 0, Reset: reset})
			tr.readDone(start)
			tr.update(quota.Status{Used: 1, Reset: reset})
			tr.readDone(start.Add(50 * time.Millisecond))
			for i, at := range tt.answers {
				clock = start.Add(at)
				e.observe("ClientUserEdit", contract.Result{Batch: fmt.Sprint("b", i), Rows: 100})
			}
			got, settled := e.callTime(tr)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.settled, settled)
		})
	}
}

func TestEstimatorFollowsTheLastCallsRows(t *testing.T) {
	t.Parallel()
	r, err := quota.NewReader(quota.ReaderConfig{Config: quota.Config{Limits: quota.Limits{Catalogue: func(string) (int, int, bool) { return 225, 225, true }}}})
	require.NoError(t, err)
	e := newEstimator(r, nil, 0, time.Now, func(string, ...any) {})
	e.ops["ClientUserEdit"] = &opTrack{known: true, answered: map[string]struct{}{}}
	res := func(batch string) contract.Result {
		return contract.Result{Op: "ClientUserEdit", Batch: batch, Rows: 3}
	}
	edit := func(r contract.Result) { e.observe("ClientUserEdit", r) }
	edit(res("b1"))
	answered, partial := e.answers("ClientUserEdit")
	require.Equal(t, 1, answered)
	require.Equal(t, 2, partial, "two more rows of b1 to come")
	edit(res("b1"))
	edit(res("b2"))
	edit(res("b1")) // late: b2 is the one followed
	answered, partial = e.answers("ClientUserEdit")
	require.Equal(t, 2, answered)
	require.Equal(t, 2, partial)
	edit(contract.Result{})                                                       // never sent: no call
	e.observe("ClientUserAdd", contract.Result{Op: "ClientUserEdit", Batch: "x"}) // the command's operation counts
	// A hostile row count is bounded by the catalogue's packet size.
	edit(contract.Result{Batch: "huge", Rows: 1 << 40})
	require.Equal(t, 100, e.packetRows("ClientUserEdit", e.ops["ClientUserEdit"]))
	_, partial = e.answers("ClientUserEdit")
	require.Equal(t, 99, partial)
	answered, _ = e.answers("ClientUserEdit")
	require.Equal(t, 3, answered)
	answered, _ = e.answers("ClientUserAdd")
	require.Zero(t, answered, "an operation not tracked")
}
