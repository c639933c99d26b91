package export_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// horizon is how far an export with the default settle reads at now.
func horizon(now time.Time) time.Time { return now.Add(-10 * time.Minute).Truncate(time.Second) }

// callsExport is an export of a year of calls, reading the newest part
// every interval once caught up.
func callsExport(since time.Time, interval time.Duration) export.Export {
	return export.Export{Op: calls, Since: since, Interval: export.Duration(interval)}
}

// TestExportAYearOfCalls: a year of GetHistoryOfServiceCalls is exported
// by two replicas in chunks of at most 7 days, within the limit (no
// OUT_OF_LIMIT; never more calls in a window than the limit), every
// generated row exactly once; a rerun of an exported range publishes
// nothing new.
func TestExportAYearOfCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(-1, 0, 0).Truncate(time.Second)
	x := callsExport(since, time.Hour)
	a := w.run([]export.Export{x}, nil)
	b := w.run([]export.Export{x}, nil)
	// 52 whole chunks of 7 days, then the last day up to the horizon.
	end := horizon(time.Now()).Add(-time.Minute)
	began := time.Now()
	st := w.waitMarker(calls, end, 2*time.Minute)
	t.Logf("a year exported in %s", time.Since(began))
	a.stop()
	b.stop()
	t.Logf("stopped after %s", time.Since(began))

	rows := w.rows()
	n := w.exactlyOnce(rows, calls, "ServiceCallID", since, st.Marker)
	require.Greater(t, n, 365*20, "a year of calls, about 24 a day")
	require.Len(t, rows, n, "nothing else")
	for _, r := range rows {
		// Checked without testify first: it is slow over 9,000 rows.
		if r.Period.To.Sub(r.Period.From) > 7*day || r.msgID != "GetHistoryOfServiceCalls."+r.rowID || r.Row.Row["ServiceCallID"] != r.rowID {
			require.LessOrEqual(t, r.Period.To.Sub(r.Period.From), 7*day, "a chunk of at most 7 days")
			require.Equal(t, "GetHistoryOfServiceCalls."+r.rowID, r.msgID)
			require.Equal(t, r.Row.Row["ServiceCallID"], r.rowID, "rows are identified by their id column")
		}
	}
	stats := w.emu.Stats()
	require.Zero(t, stats.OutOfLimit[calls], "no OUT_OF_LIMIT")
	require.LessOrEqual(t, stats.MaxCallsInWindow[calls], limit, "never more calls in a window than the limit")
	require.Equal(t, 53, stats.Calls[calls], "one call per chunk, by one replica at a time: 52 of 7 days and the rest")
	require.EqualValues(t, 53, st.Chunks)
	require.EqualValues(t, n, st.Published)
	require.Empty(t, st.Failed)

	t.Run("a rerun publishes nothing new", func(t *testing.T) {
		nc, _ := connect(t, w)
		r, err := export.New(w.config(nc, x))
		require.NoError(t, err)
		before := w.count()
		from, to := since.AddDate(0, 1, 0), since.AddDate(0, 2, 0)
		res, err := r.Rerun(context.Background(), calls, from, to)
		require.NoError(t, err)
		want, err := w.emu.History(calls, from, to)
		require.NoError(t, err)
		require.Equal(t, len(want), res.Rows)
		require.Zero(t, res.Published)
		require.Equal(t, len(want), res.Duplicates)
		require.Equal(t, 5, res.Chunks, "a month in chunks of 7 days")
		require.Equal(t, before, w.count())
	})
}

// TestExportResumesMidChunk: an exporter stopped in the middle of a
// chunk, some of its rows published and its marker not moved, is resumed
// by another from the marker: no row missing, none repeated.
func TestExportResumesMidChunk(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(0, -3, 0).Truncate(time.Second)
	x := callsExport(since, time.Hour)
	w.gate.arm(calls, 6) // the sixth chunk: five stored before it
	first := w.run([]export.Export{x}, nil)
	select {
	case <-w.gate.held:
	case <-time.After(time.Minute):
		t.Fatal("the sixth call never came")
	}
	marker := since.Add(5 * 7 * day)
	before, err := w.emu.History(calls, since, marker)
	require.NoError(t, err)
	// Rows of the held chunk are published, the marker not moved.
	require.Eventually(t, func() bool { return w.count() > uint64(len(before)) }, 30*time.Second, 10*time.Millisecond)
	require.True(t, marker.Equal(w.state(calls).Marker), "the marker is the fifth chunk's end")
	first.stop() // mid-chunk
	require.True(t, marker.Equal(w.state(calls).Marker), "stopped mid-chunk: the marker did not move")
	require.Greater(t, w.count(), uint64(len(before)))

	second := w.run([]export.Export{x}, nil)
	st := w.waitMarker(calls, horizon(time.Now()).Add(-time.Minute), 2*time.Minute)
	second.stop()
	w.exactlyOnce(w.rows(), calls, "ServiceCallID", since, st.Marker)
	require.Positive(t, second.counter("connect_export_duplicates_total"), "the held chunk's rows came again, and were dropped")
}

// TestExportHalvesALargeAnswer: a chunk whose answer is over the size
// bound is halved, and read in halves delivers every row once.
func TestExportHalvesALargeAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(0, 0, -28).Truncate(time.Second)
	// About 24 calls a day, 700 bytes each: a week is about 120 KB, two
	// days under 40 KB.
	r := w.run([]export.Export{callsExport(since, time.Hour)}, func(c *export.Config) { c.MaxResponseBytes = 40 << 10 })
	st := w.waitMarker(calls, horizon(time.Now()).Add(-time.Minute), 2*time.Minute)
	r.stop()
	rows := w.rows()
	w.exactlyOnce(rows, calls, "ServiceCallID", since, st.Marker)
	require.Positive(t, r.counter("connect_export_halvings_total", "reason", "too_large"))
	require.Zero(t, r.counter("connect_export_chunk_failures_total"))
	halves := 0
	for _, row := range rows {
		if row.Period.To.Sub(row.Period.From) <= 84*time.Hour {
			halves++
		}
	}
	// The rows of an answer too large that came before the cap are
	// published with the period first asked for; the others with halves.
	require.Positive(t, halves)
	require.Greater(t, st.Calls, st.Chunks, "the answers too large cost calls")
}

// TestExportHalvesARefusedPeriod: a chunk longer than the service
// accepts (an inferred bound: the export asks for 4 days of SIP calls,
// the service takes one) is refused, halved until it is accepted, and
// the length refused is not asked for again.
func TestExportHalvesARefusedPeriod(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(0, 0, -10).Truncate(time.Second)
	x := export.Export{Op: "GetHistoryOfSIPCalls", Since: since, Interval: export.Duration(time.Hour), Chunk: export.Duration(4 * day)}
	r := w.run([]export.Export{x}, nil)
	st := w.waitMarker(x.Op, horizon(time.Now()).Add(-time.Minute), 2*time.Minute)
	r.stop()
	w.exactlyOnce(w.rows(), x.Op, "SIPCallID", since, st.Marker)
	require.Equal(t, 2.0, r.counter("connect_export_halvings_total", "reason", "refused"), "4 days, then 2, refused; 1 day taken and kept")
	require.Equal(t, 2, w.emu.Stats().Faults)
}

// TestExportFailsAChunkAtTheMinimum: an answer too large even at the
// minimum chunk fails the chunk, with the reason stored, and the marker
// stays.
func TestExportFailsAChunkAtTheMinimum(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(0, 0, -14).Truncate(time.Second)
	r := w.run([]export.Export{callsExport(since, time.Hour)}, func(c *export.Config) {
		c.MaxResponseBytes = 600 // not one row
		c.MinChunk = 6 * time.Hour
	})
	require.Eventually(t, func() bool { return w.state(calls).Failed != "" }, time.Minute, 20*time.Millisecond)
	r.stop()
	st := w.state(calls)
	require.Contains(t, st.Failed, "larger than the configured cap")
	require.True(t, since.Equal(st.Marker))
	require.Equal(t, 1.0, r.counter("connect_export_chunk_failures_total"))
	// 7 days, 3.5, 42 hours, 21, 10.5, then 6: six calls.
	require.Equal(t, 6, w.emu.Stats().Calls[calls])
}

// TestExportRefusesWhatCannotBeExported: reads without a period, an
// unknown read and bad settings are refused at start, each named with
// what is allowed.
func TestExportRefusesWhatCannotBeExported(t *testing.T) {
	t.Parallel()
	iv := export.Duration(time.Hour)
	err := export.Config{Exports: []export.Export{
		{Op: "ClientUserRead", Interval: iv},
		{Op: "GetHistoryOfEverything", Interval: iv},
		{Op: calls},
		{Op: calls, Name: "long", Interval: iv, Chunk: export.Duration(8 * day)},
		{Op: "GetHistoryOfSIPCalls", Interval: iv, Chunk: export.Duration(30 * day)}, // inferred: allowed
		{Op: "GetHistoryOfColleaguesChat", Interval: iv},
		{Op: "GetHistoryOfServiceTreatments", Interval: iv, Filters: map[string]any{"PeriodFrom": "2026-01-01T00:00:00"}},
		{Op: "GetHistoryOfServiceTreatments", Name: "short", Interval: iv, Chunk: export.Duration(time.Second)},
		{Op: "GetHistoryOfSIPCalls", Name: "bad id", Interval: iv, IDColumn: "no such column!"},
		{Op: calls, Interval: iv},
	}, Share: 2}.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"ClientUserRead is a ChangeRead without PeriodFrom",
		"GetHistoryOfServiceCalls (7 days, confirmed)",
		`"GetHistoryOfEverything"`,
		"export 3 (GetHistoryOfServiceCalls): an interval is required",
		"reads at most 168h0m0s by day (confirmed)",
		"PeriodFrom is the export's to set",
		"at least the minimum chunk 1m0s",
		"export 9 (bad id): the name must be",
		"GetHistoryOfColleaguesChat (1 day, inferred, answers a ZIP)",
		`id column "no such column!"`,
		"export share 2",
		"two exports named GetHistoryOfServiceCalls",
	} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "export 5", "a chunk over an inferred bound is allowed")
	require.NotContains(t, err.Error(), "export 6", "the colleagues' chat is exported into the files bucket")
}

// TestExportStatus: the table of `worker exports`: the marker, what is
// left, when the next read is due, and when it will be done at the
// limits, the ledger's current window read when there is one.
func TestExportStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulatorConfig())
	since := time.Now().In(msk).AddDate(-1, 0, 0).Truncate(time.Second)
	x := callsExport(since, time.Hour)
	// Three weeks of the year, then stopped.
	r := w.run([]export.Export{x}, nil)
	st := w.waitMarker(calls, since.Add(21*day), time.Minute)
	r.stop()

	budget, err := quota.NewReader(quota.ReaderConfig{Config: quota.Config{
		Windows: quota.Windows{Length: time.Hour, Location: msk, Night: tariff.Night{From: 0, To: 6}},
		Limits:  quota.Limits{Catalogue: func(op string) (int, int, bool) { return 10, 50, true }, Reserve: -1},
	}})
	require.NoError(t, err)
	now := time.Now()
	out, err := export.Status(context.Background(), w.js, export.StatusConfig{
		Exports: []export.Export{x, {Name: "stored-elsewhere"}}, Budget: budget}, now)
	require.NoError(t, err)
	require.Len(t, out, 2)
	s := out[0]
	require.Equal(t, calls, s.Name)
	require.True(t, st.Marker.Equal(s.Marker) || s.Marker.After(st.Marker))
	require.False(t, s.Held, "stopped: the lease was released")
	require.InDelta(t, horizon(now).Sub(s.Marker).Seconds(), s.Left.Seconds(), 1)
	require.Equal(t, int((s.Left+7*day-1)/(7*day)), s.Chunks)
	require.Zero(t, s.NextRead, "behind: it reads as soon as the quota grants")
	require.NotNil(t, s.Estimate)
	require.Equal(t, s.Chunks, s.Estimate.Calls)
	require.False(t, s.Estimate.Ledger, "no shared ledger here")
	require.Contains(t, []float64{5, 25}, s.Estimate.PerHour, "half of 10 by day, of 50 at night")
	require.True(t, s.Estimate.Finish.After(now))
	require.Less(t, s.Estimate.Finish.Sub(now), 24*time.Hour, "a day and a night take %d calls", s.Chunks)
	require.Nil(t, out[1].Estimate)
	require.Zero(t, out[1].Marker)
}

// emulatorConfig is the sandbox of these tests: newWorld's defaults.
func emulatorConfig() emulator.Config { return emulator.Config{} }

// connect opens a connection of its own to the world's NATS.
func connect(t *testing.T, w *world) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natstest.Connect(t, w.url)
}
