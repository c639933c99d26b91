package enqueue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

func TestForecast(t *testing.T) {
	t.Parallel()
	hour := quota.Windows{Length: time.Hour, Guard: 2 * time.Second, Location: time.UTC}
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // a window's start
	flat := func(n int) func(string, time.Time) int { return func(string, time.Time) int { return n } }
	// Day 225 an hour, night (22-06) 1125, as ClientUserEdit with the reserve.
	night, err := tariff.ParseNight("22-06")
	require.NoError(t, err)
	dayNight := func(_ string, s time.Time) int {
		if night.Contains(s.Hour()) {
			return 1125
		}
		return 225
	}
	ledger := func(op string, limit, used int, reset time.Time) quota.Status {
		return quota.Status{Op: op, Limit: limit, Used: used, Reset: reset}
	}
	tests := []struct {
		name     string
		in       forecastInput
		calls    int
		finish   time.Time // zero: never
		op       string
		rate     float64
		text     string // Text as of in.now, when not empty
		blocked  string
		noLedger bool
	}{
		{
			name: "this window spent: 412 calls in the next two",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 41200, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 225, start.Add(time.Hour))}}},
			calls: 412, finish: start.Add(2*time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
			text: "≈ 1 h 40 min: 412 calls at 225 calls/h",
		},
		{
			name: "what is left of this window first",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 41200, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 100, start.Add(time.Hour))}}},
			// 125 now, 225 in the next window, 62 in the one after.
			calls: 412, finish: start.Add(2*time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "fits in this window: now",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 450, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 100, start.Add(time.Hour))}}},
			calls: 5, finish: start.Add(20 * time.Minute), op: "ClientUserEdit", rate: 225,
			text: "≈ 0 s: 5 calls at 225 calls/h",
		},
		{
			name: "calls one after another, CallTime apart",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", CallTime: 3 * time.Second, Ready: 450, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 100, start.Add(time.Hour))}}},
			// Calls at +0, +3, +6, +9, +12 s; the last result 3 s later.
			calls: 5, finish: start.Add(20*time.Minute + 15*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "no call in the guard after a window starts",
			in: forecastInput{now: start.Add(time.Second), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 1, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			calls: 1, finish: start.Add(2 * time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "no call in the guard before a window ends",
			in: forecastInput{now: start.Add(time.Hour - time.Second), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 1, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			calls: 1, finish: start.Add(time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "the guard bounds the calls that fit before the end",
			in: forecastInput{now: start.Add(time.Hour - 8*time.Second), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", CallTime: 2 * time.Second, CallTimeSettled: true, Ready: 5, Rows: 1, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			// Starts at -8, -6, -4 s before the end (not -2: the guard);
			// the other two after the next window's guard, 2 s apart.
			calls: 5, finish: start.Add(time.Hour + 2*time.Second + 2*time.Second + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "a call time not settled bounds only this window",
			in: forecastInput{now: start.Add(time.Hour - 8*time.Second), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", CallTime: 2 * time.Second, Ready: 5, Rows: 1, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			// Three before the end, as above; the other two at once after
			// the next window's guard, their results 2 s later.
			calls: 5, finish: start.Add(time.Hour + 2*time.Second + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "exhausted: OUT_OF_LIMIT ends the window",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 100, Rows: 100,
					Ledger: quota.Status{Op: "ClientUserEdit", Limit: 225, Used: 3, Exhausted: true, Reset: start.Add(time.Hour)}}}},
			calls: 1, finish: start.Add(time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "a ledger of another window counts as unused",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 100, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 225, start)}}},
			calls: 1, finish: start.Add(20 * time.Minute), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "no ledger: the whole limit, and said so",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225),
				ops: []Demand{{Op: "ClientUserEdit", Ready: 30000, Rows: 100}}},
			calls: 300, finish: start.Add(time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225, noLedger: true,
			text: "≈ 40 min: 300 calls at 225 calls/h; quota ledger not read, this window assumed unused",
		},
		{
			name: "night windows have the night limits",
			in: forecastInput{now: start.Add(9*time.Hour + 30*time.Minute), windows: hour, limit: dayNight, ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 1225, Rows: 1, Ledger: ledger("ClientUserEdit", 225, 225, start.Add(10*time.Hour))}}},
			// 21:30, spent; 22:00 gives 1125, 23:00 the other 100.
			calls: 1225, finish: start.Add(11*time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 1125,
		},
		{
			name: "operations spend their own quotas: the slowest decides",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: func(op string, _ time.Time) int {
				if op == "ServiceRequestAdd" {
					return 45
				}
				return 225
			}, ledger: true, ops: []Demand{
				{Op: "ClientUserEdit", Ready: 50000, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 225, start.Add(time.Hour))},
				{Op: "ServiceRequestAdd", Ready: 100, Rows: 1, Ledger: ledger("ServiceRequestAdd", 45, 0, start.Add(time.Hour))},
			}},
			// Edits: 500 calls, the last in the third window from now.
			// Requests: 45 now, 45 next, 10 the one after that.
			calls: 600, finish: start.Add(3*time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
			text: "≈ 2 h 40 min: 600 calls at 225 calls/h (ClientUserEdit last)",
		},
		{
			name: "an operation allowed no call never ends",
			in: forecastInput{now: start, windows: hour, limit: func(op string, _ time.Time) int {
				if op == "ServiceRequestAdd" {
					return 0
				}
				return 225
			}, ledger: true, ops: []Demand{{Op: "ServiceRequestAdd", Ready: 1, Rows: 1}}},
			calls: 1, blocked: "ServiceRequestAdd",
			text: "no estimate: the quota never lets ServiceRequestAdd finish",
		},
		{
			name: "only calls in flight: their results",
			in: forecastInput{now: start.Add(time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", CallTime: time.Second, InFlight: 2, Rows: 100}}},
			calls: 0, finish: start.Add(time.Minute + time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name:  "nothing left",
			in:    forecastInput{now: start.Add(time.Minute), windows: hour, limit: flat(225), ledger: true},
			calls: 0, finish: start.Add(time.Minute),
		},
		{
			name: "rows below 1 count as 1",
			in: forecastInput{now: start.Add(time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 3}}},
			calls: 3, finish: start.Add(time.Minute), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "packets wait for the commands still being published",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 100, Coming: 900, Arrival: 10, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			// A packet now, then one each 10 s as 100 more come.
			calls: 10, finish: start.Add(20*time.Minute + 90*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "the last packet goes with the rest",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", CallTime: time.Second, Coming: 150, Arrival: 50, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			// Full at +2 s, the other 50 at +3 s; its result a second later.
			calls: 2, finish: start.Add(20*time.Minute + 4*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "packets filled past the window's end go in the next",
			in: forecastInput{now: start.Add(time.Hour - 10*time.Second), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Coming: 1000, Arrival: 10, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 0, start.Add(time.Hour))}}},
			// The first is full at the end: after the next window's guard;
			// the last is full 100 s from now, 90 s into that window.
			calls: 10, finish: start.Add(time.Hour + 90*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "packets filling faster than the quota lets them go",
			in: forecastInput{now: start.Add(20 * time.Minute), windows: hour, limit: flat(225), ledger: true,
				ops: []Demand{{Op: "ClientUserEdit", Ready: 100, Coming: 41100, Arrival: 1000, Rows: 100, Ledger: ledger("ClientUserEdit", 225, 100, start.Add(time.Hour))}}},
			// Published in 41 s; the quota is what waits: as when all is there.
			calls: 412, finish: start.Add(2*time.Hour + 2*time.Second), op: "ClientUserEdit", rate: 225,
		},
		{
			name: "the test's short windows: 99 calls at 10 per 2 s",
			in: forecastInput{now: start.Add(150 * time.Millisecond), ledger: true,
				windows: quota.Windows{Length: 2 * time.Second, Guard: 100 * time.Millisecond, Location: time.UTC}, limit: flat(10),
				ops: []Demand{{Op: "ClientUserEdit", Ready: 9900, Rows: 100, InFlight: 1, Ledger: ledger("ClientUserEdit", 10, 1, start.Add(2*time.Second))}}},
			// 9 now, then 9 windows of 10.
			calls: 99, finish: start.Add(18*time.Second + 100*time.Millisecond), op: "ClientUserEdit", rate: 18000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := forecast(tt.in)
			require.Equal(t, tt.calls, e.Calls, "calls")
			require.True(t, tt.finish.Equal(e.Finish), "finish %s, want %s", e.Finish, tt.finish)
			require.Equal(t, tt.op, e.Op)
			require.InDelta(t, tt.rate, e.Rate, 1e-9)
			require.Equal(t, tt.blocked, e.Blocked)
			require.Equal(t, !tt.noLedger, e.Ledger)
			require.Equal(t, len(tt.in.ops), e.Ops)
			if tt.text != "" {
				require.Equal(t, tt.text, e.String())
			}
		})
	}
}

// TestForecastLooksAheadBoundedly: a demand far past any window still
// answers, at once.
func TestForecastLooksAheadBoundedly(t *testing.T) {
	t.Parallel()
	w := quota.Windows{Length: time.Second, Location: time.UTC}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	e := forecast(forecastInput{now: now, windows: w, limit: func(string, time.Time) int { return 1 }, ledger: true,
		ops: []Demand{{Op: "ClientUserEdit", Ready: 1 << 40, Rows: 1}}})
	require.True(t, e.Finish.IsZero(), "past the horizon: no estimate")
	require.Equal(t, "ClientUserEdit", e.Blocked)
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0 s"},
		{0, "0 s"},
		{400 * time.Millisecond, "1 s"},
		{45 * time.Second, "45 s"},
		{2 * time.Minute, "2 min"},
		{2*time.Minute + 5*time.Second, "2 min 5 s"},
		{40*time.Minute + 20*time.Second, "40 min"},
		{3*time.Hour + 40*time.Minute, "3 h 40 min"},
		{3 * time.Hour, "3 h"},
		{49*time.Hour + 10*time.Minute, "2 d 1 h"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, humanDuration(tt.d))
		})
	}
}
