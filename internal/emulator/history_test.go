package emulator_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// period is the Params of a history read of [from, to), written as wall
// clocks in zone (the account's, unless a test says otherwise), and
// filters as name, value pairs.
func period(from, to time.Time, zone *time.Location, kv ...any) soap.Value {
	args := append([]any{
		catalog.ParamPeriodFrom, soap.DateTime(from.In(zone)),
		catalog.ParamPeriodTo, soap.DateTime(to.In(zone)),
	}, kv...)
	return obj(args...)
}

// ids returns the column col of every row.
func ids(rows []map[string]any, col string) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[col]
	}
	return out
}

// wantIDs returns the column col of generated rows.
func wantIDs(rows []emulator.HistoryRow, col string) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r.Row[col].Interface()
	}
	return out
}

// TestHistoryIsDeterministic: the same seed draws the same history,
// whatever the moment the sandbox starts that day and the order of the
// reads; another seed draws another.
func TestHistoryIsDeterministic(t *testing.T) {
	t.Parallel()
	a := setup(t, emulator.Config{SeedHistory: 30, Seed: 7})
	b := setup(t, emulator.Config{SeedHistory: 30, Seed: 7, Now: func() time.Time { return t0.Add(5 * time.Hour) }})
	other := setup(t, emulator.Config{SeedHistory: 30, Seed: 8})
	from, to := t0.AddDate(0, 0, -20), t0.AddDate(0, 0, -10)
	ra, err := a.srv.History("GetHistoryOfServiceCalls", from, to)
	require.NoError(t, err)
	require.Greater(t, len(ra), 100, "about 24 calls a day")
	// Read in two halves, the later first: the same rows.
	late, err := b.srv.History("GetHistoryOfServiceCalls", from.AddDate(0, 0, 5), to)
	require.NoError(t, err)
	early, err := b.srv.History("GetHistoryOfServiceCalls", from, from.AddDate(0, 0, 5))
	require.NoError(t, err)
	require.Equal(t, ra, append(early, late...))
	ro, err := other.srv.History("GetHistoryOfServiceCalls", from, to)
	require.NoError(t, err)
	require.NotEqual(t, wantIDs(ra, "ServiceCallID"), wantIDs(ro, "ServiceCallID"))

	// Rows are in order of start, within the period, unique by id.
	seen := map[any]bool{}
	for i, r := range ra {
		require.False(t, r.Start.Before(from) || !r.Start.Before(to), "row %d starts at %s", i, r.Start)
		if i > 0 {
			require.False(t, r.Start.Before(ra[i-1].Start), "row %d out of order", i)
		}
		id := r.Row["ServiceCallID"].Interface()
		require.False(t, seen[id], "id %v twice", id)
		seen[id] = true
	}
	_, err = a.srv.History("GetHistoryOfColleaguesChat", from, to)
	require.Error(t, err, "the chat of colleagues is a ZIP, not rows")
}

// TestHistoryEveryPeriodRead: every read with a period but the
// colleagues' chat has a history, whose rows carry the id column the
// catalogue names, and a read of it answers them.
func TestHistoryEveryPeriodRead(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{SeedHistory: 3})
	from, to := t0.AddDate(0, 0, -1), t0
	for _, op := range catalog.PeriodReads() {
		p, _ := op.Period()
		if p.Archive {
			continue
		}
		t.Run(op.Name, func(t *testing.T) {
			want, err := b.srv.History(op.Name, from, to)
			require.NoError(t, err)
			require.NotEmpty(t, want)
			got := rows(t, b.mustCall(t, op.Name, period(from, to, msk)))
			require.Len(t, got, len(want))
			for i, r := range want {
				for name, v := range r.Row {
					require.Equal(t, v.Interface(), got[i][name], "row %d column %s", i, name)
				}
				if p.IDColumn != "" {
					require.Contains(t, r.Row, p.IDColumn)
				}
			}
		})
	}
}

// TestHistoryPeriodSemantics: a read answers the rows that started in
// [PeriodFrom, PeriodTo), written in the account's zone (an offset names
// that instant), that are over by the sandbox's clock; its other
// parameters filter by column.
func TestHistoryPeriodSemantics(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{SeedHistory: 10})
	const op = "GetHistoryOfServiceCalls"
	day, err := b.srv.History(op, t0.AddDate(0, 0, -2), t0.AddDate(0, 0, -1))
	require.NoError(t, err)
	require.Greater(t, len(day), 3)
	// A period starting at a row's very second holds it; one ending there
	// does not.
	first, last := day[1].Start, day[len(day)-2].Start
	for _, tt := range []struct {
		name     string
		from, to time.Time
		zone     *time.Location
		want     []emulator.HistoryRow
	}{
		{"from a row's second to another's", first, last, msk, day[1 : len(day)-2]},
		{"the same in UTC wall clock is another period", first, last, time.UTC, nil},
		{"an empty period", first, first, msk, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if tt.zone != msk {
				// The wall clock of UTC read as Moscow's: three hours
				// earlier.
				want, err = b.srv.History(op, first.Add(-3*time.Hour), last.Add(-3*time.Hour))
				require.NoError(t, err)
			}
			got := rows(t, b.mustCall(t, op, period(tt.from, tt.to, tt.zone)))
			require.Equal(t, wantIDs(want, "ServiceCallID"), ids(got, "ServiceCallID"))
		})
	}

	t.Run("an offset names the instant", func(t *testing.T) {
		params := obj(catalog.ParamPeriodFrom, soap.Value{Kind: soap.KindDateTime, Text: first.UTC().Format(time.RFC3339)},
			catalog.ParamPeriodTo, soap.Value{Kind: soap.KindDateTime, Text: last.UTC().Format(time.RFC3339)})
		got := rows(t, b.mustCall(t, op, params))
		require.Equal(t, wantIDs(day[1:len(day)-2], "ServiceCallID"), ids(got, "ServiceCallID"))
	})

	t.Run("a filter by column", func(t *testing.T) {
		week, err := b.srv.History(op, t0.AddDate(0, 0, -7), t0)
		require.NoError(t, err)
		who := week[0].Row["SpecialistID"].Text
		var want []emulator.HistoryRow
		for _, r := range week {
			if r.Row["SpecialistID"].Text == who {
				want = append(want, r)
			}
		}
		require.Less(t, len(want), len(week))
		got := rows(t, b.mustCall(t, op, period(t0.AddDate(0, 0, -7), t0, msk, "SpecialistID", soap.String(who))))
		require.Equal(t, wantIDs(want, "ServiceCallID"), ids(got, "ServiceCallID"))
	})

	t.Run("a row is answered once it is over", func(t *testing.T) {
		c := setup(t, emulator.Config{SeedHistory: 1, HistoryPerDay: 240})
		today, err := c.srv.History(op, t0.Add(-time.Hour), t0.Add(time.Hour))
		require.NoError(t, err)
		require.NotEmpty(t, today)
		var over int
		for _, r := range today {
			if r.Start.Add(emulator.MaxEventLength).Before(t0) {
				over++
			}
		}
		got := rows(t, c.mustCall(t, op, period(t0.Add(-time.Hour), t0.Add(time.Hour), msk)))
		require.GreaterOrEqual(t, len(got), over, "every row older than the longest event is there")
		require.Less(t, len(got), len(today), "the calls still going on, or to come, are not")
		c.clock.Advance(time.Hour + emulator.MaxEventLength)
		got = rows(t, c.mustCall(t, op, period(t0.Add(-time.Hour), t0.Add(time.Hour), msk)))
		require.Equal(t, wantIDs(today, "ServiceCallID"), ids(got, "ServiceCallID"), "an hour later they are")
	})

	t.Run("without history: an empty table of the same columns", func(t *testing.T) {
		c := setup(t, emulator.Config{})
		resp := c.mustCall(t, op, period(t0.AddDate(0, 0, -1), t0, msk))
		require.Empty(t, rows(t, resp))
		require.Contains(t, columns(t, resp), "ServiceCallID")
	})
}

// TestHistoryPeriodBound: a period longer than the read's bound is
// refused with a Fault, and counted against the limit like any call; the
// catalogue's bound or Config.PeriodBounds', at night as by day.
func TestHistoryPeriodBound(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, tt := range []struct {
		name    string
		cfg     emulator.Config
		op      string
		length  time.Duration
		refused bool
	}{
		{"calls: 7 days", emulator.Config{}, "GetHistoryOfServiceCalls", 7 * day, false},
		{"calls: a second more", emulator.Config{}, "GetHistoryOfServiceCalls", 7*day + time.Second, true},
		{"treatments: 35 days", emulator.Config{}, "GetHistoryOfServiceTreatments", 35 * day, false},
		{"treatments: 36 days", emulator.Config{}, "GetHistoryOfServiceTreatments", 36 * day, true},
		{"SIP calls: the default day", emulator.Config{}, "GetHistoryOfSIPCalls", day, false},
		{"SIP calls: two days", emulator.Config{}, "GetHistoryOfSIPCalls", 2 * day, true},
		{"at night, the night bound", emulator.Config{Night: tariff.Night{From: 0, To: 24}}, "GetHistoryOfServiceCalls", 8 * day, true},
		{"a stricter service", emulator.Config{PeriodBounds: map[string]time.Duration{"GetHistoryOfServiceCalls": 2 * day}},
			"GetHistoryOfServiceCalls", 3 * day, true},
		{"a looser one", emulator.Config{PeriodBounds: map[string]time.Duration{"GetHistoryOfSIPCalls": 30 * day}},
			"GetHistoryOfSIPCalls", 30 * day, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.SeedHistory = 40
			b := setup(t, tt.cfg)
			_, err := b.call(t, tt.op, period(t0.Add(-tt.length), t0, msk))
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			var fe *soap.FaultError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Contains(t, fe.Reason, "the period may not exceed")
			require.Equal(t, 1, b.srv.Stats().Calls[tt.op], "the refusal was counted")
			require.Equal(t, 1, b.srv.Stats().Faults)
		})
	}

	t.Run("refusals spend the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, emulator.Config{SeedHistory: 10, Limits: map[string]int{"GetHistoryOfServiceCalls": 2}})
		_, err := b.call(t, "GetHistoryOfServiceCalls", period(t0.AddDate(0, 0, -8), t0, msk))
		require.Error(t, err)
		b.mustCall(t, "GetHistoryOfServiceCalls", period(t0.AddDate(0, 0, -7), t0, msk))
		_, err = b.call(t, "GetHistoryOfServiceCalls", period(t0.AddDate(0, 0, -1), t0, msk))
		require.ErrorIs(t, err, soap.ErrOutOfLimit)
	})

	t.Run("both ends are required, in order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, emulator.Config{SeedHistory: 10})
		for _, params := range []soap.Value{
			obj(catalog.ParamPeriodFrom, soap.DateTime(t0.AddDate(0, 0, -1))),
			obj(catalog.ParamPeriodTo, soap.DateTime(t0)),
			period(t0, t0.AddDate(0, 0, -1), msk),
		} {
			_, err := b.call(t, "GetHistoryOfServiceCalls", params)
			var re *soap.ResultError
			require.True(t, errors.As(err, &re), "%v", err)
			require.Equal(t, emulator.CodeInvalidParameter, re.Code)
			require.Contains(t, re.Reason, "Period")
		}
	})
}

// TestHistoryConfig: settings out of range are refused, each named.
func TestHistoryConfig(t *testing.T) {
	t.Parallel()
	_, err := emulator.New(emulator.Config{SeedHistory: emulator.MaxSeedHistory + 1, HistoryPerDay: -1,
		PeriodBounds: map[string]time.Duration{"ClientRead": time.Hour, "NoSuchRead": time.Hour, "GetHistoryOfSIPCalls": 0}})
	require.Error(t, err)
	for _, want := range []string{"seed history", "events a day", "ClientRead: it takes no period", `"NoSuchRead": unknown`, "GetHistoryOfSIPCalls: 0s is not positive"} {
		require.ErrorContains(t, err, want)
	}
}
