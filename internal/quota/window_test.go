package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestWindowStartIsClockAligned(t *testing.T) {
	cases := []struct {
		name   string
		loc    *time.Location
		length time.Duration
		at     string // RFC 3339
		want   string // local wall clock of the start
	}{
		{"hour in Moscow", quota.MoscowTime(), time.Hour, "2026-11-28T21:34:50Z", "2026-11-29T00:00:00"},
		{"hour in Moscow, mid-hour", quota.MoscowTime(), time.Hour, "2026-11-28T21:59:59Z", "2026-11-29T00:00:00"},
		{"hour in Kolkata (+05:30)", mustLoad(t, "Asia/Kolkata"), time.Hour, "2026-11-28T21:34:50Z", "2026-11-29T03:00:00"},
		{"hour in Kathmandu (+05:45)", mustLoad(t, "Asia/Kathmandu"), time.Hour, "2026-11-28T21:34:50Z", "2026-11-29T03:00:00"},
		{"day in Moscow starts at Moscow midnight", quota.MoscowTime(), 24 * time.Hour, "2026-11-28T21:34:50Z", "2026-11-29T00:00:00"},
		{"day in Moscow, before midnight", quota.MoscowTime(), 24 * time.Hour, "2026-11-28T20:59:59Z", "2026-11-28T00:00:00"},
		{"2s windows", time.UTC, 2 * time.Second, "2026-11-28T21:34:51.9Z", "2026-11-28T21:34:50"},
		{"before the epoch", time.UTC, time.Hour, "1969-12-31T23:30:00Z", "1969-12-31T23:00:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339Nano, tc.at)
			require.NoError(t, err)
			w := quota.Windows{Length: tc.length, Location: tc.loc}
			got := w.Start(at)
			require.Equal(t, tc.want, got.In(tc.loc).Format("2006-01-02T15:04:05"))
			require.False(t, got.After(at))
			require.True(t, got.Add(tc.length).After(at))
			require.Equal(t, got, w.Start(got), "a window's start is in the window")
		})
	}
}

func TestWindowAcrossADaylightSavingChange(t *testing.T) {
	// Berlin leaves summer time on 2026-10-25 at 03:00 local: the hour
	// 02:00-03:00 happens twice. Hour windows stay an hour long.
	w := quota.Windows{Length: time.Hour, Location: mustLoad(t, "Europe/Berlin")}
	first := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC) // 02:30 CEST
	second := first.Add(time.Hour)                          // 02:30 CET
	require.Equal(t, time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), w.Start(first).UTC())
	require.Equal(t, time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), w.Start(second).UTC())
}

func TestGuardInterval(t *testing.T) {
	w := quota.Windows{Length: time.Hour, Guard: 2 * time.Second, Location: time.UTC}
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		at      time.Duration
		open    bool
		retryAt time.Duration
	}{
		{0, false, 2 * time.Second},
		{1999 * time.Millisecond, false, 2 * time.Second},
		{2 * time.Second, true, 0},
		{30 * time.Minute, true, 0},
		{time.Hour - 2*time.Second - time.Nanosecond, true, 0},
		{time.Hour - 2*time.Second, false, time.Hour + 2*time.Second},
		{time.Hour - time.Nanosecond, false, time.Hour + 2*time.Second},
	}
	for _, tc := range cases {
		open, at := w.Open(start.Add(tc.at))
		require.Equal(t, tc.open, open, "at +%s", tc.at)
		if !tc.open {
			require.Equal(t, start.Add(tc.retryAt), at, "at +%s", tc.at)
		}
	}
}

// TestNightHours checks that the window's start decides whether its
// night limits apply (the parsing of night hours is tariff's): the
// 21:00-22:00 window is day, the 22:00-23:00 one night, in the account's
// zone (Moscow, UTC+3).
func TestNightHours(t *testing.T) {
	night := tariff.Night{From: 22, To: 6}
	w := quota.Windows{Length: time.Hour, Location: quota.MoscowTime(), Night: night}
	require.False(t, w.IsNight(time.Date(2026, 11, 28, 18, 59, 59, 0, time.UTC)))
	require.True(t, w.IsNight(time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)))
	require.True(t, w.IsNight(time.Date(2026, 11, 29, 2, 59, 59, 0, time.UTC)))
	require.False(t, w.IsNight(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)))
}

func catalogue(op string) (int, int, bool) {
	switch op {
	case "ClientUserEdit":
		return 250, 1250, true
	case "ServiceRequestAdd":
		return 50, 250, true
	case "Rare":
		return 1, 1, true
	}
	return 0, 0, false
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name   string
		limits quota.Limits
		op     string
		night  bool
		length time.Duration
		want   int
	}{
		{"day, reserve 10%", quota.Limits{Catalogue: catalogue, Reserve: 0.1}, "ClientUserEdit", false, time.Hour, 225},
		{"night", quota.Limits{Catalogue: catalogue, Reserve: 0.1}, "ClientUserEdit", true, time.Hour, 1125},
		{"no reserve", quota.Limits{Catalogue: catalogue, Reserve: -1}, "ServiceRequestAdd", false, time.Hour, 50},
		{"scaled to a shorter window", quota.Limits{Catalogue: catalogue, Reserve: -1}, "ClientUserEdit", false, 6 * time.Minute, 25},
		{"scaled, never below one", quota.Limits{Catalogue: catalogue, Reserve: -1}, "Rare", false, time.Second, 1},
		{"reserve keeps at least one", quota.Limits{Catalogue: catalogue, Reserve: 0.5}, "Rare", false, time.Hour, 1},
		{"override", quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEdit": 5}, Reserve: -1}, "ClientUserEdit", true, 2 * time.Second, 5},
		{"override less reserve", quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEdit": 100}, Reserve: 0.2}, "ClientUserEdit", false, time.Hour, 80},
		{"star override", quota.Limits{Catalogue: catalogue, Override: map[string]int{"*": 7}, Reserve: -1}, "ServiceRequestAdd", false, time.Hour, 7},
		{"zero override: never", quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEdit": 0}, Reserve: 0.1}, "ClientUserEdit", false, time.Hour, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.limits.For(tc.op, tc.night, tc.length)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := quota.Limits{Catalogue: catalogue}.For("Nope", false, time.Hour)
	require.ErrorIs(t, err, quota.ErrUnknownOperation)
	_, err = quota.NewLocal(quota.Config{Limits: quota.Limits{Catalogue: catalogue, Reserve: 0.95}})
	require.ErrorContains(t, err, "reserve")
	_, err = quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Second, Guard: time.Second}, Limits: quota.Limits{Catalogue: catalogue}})
	require.ErrorContains(t, err, "guard")
}

// clock is an injected clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) advance(d time.Duration)   { c.t = c.t.Add(d) }
func (c *clock) set(t time.Time) time.Time { c.t = t; return t }

func TestLocalGrantsUpToTheLimitPerWindow(t *testing.T) {
	ctx := context.Background()
	night := tariff.Night{From: 22, To: 6}
	q, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: 2 * time.Second, Location: quota.MoscowTime(), Night: night},
		Limits:  quota.Limits{Catalogue: catalogue, Override: map[string]int{"ClientUserEdit": 3}, Reserve: -1},
	})
	require.NoError(t, err)
	c := &clock{}
	// 21:00:00 Moscow, the first instant of a window: its guard first.
	c.set(time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC))
	g, err := q.Take(ctx, "ClientUserEdit", c.now())
	require.NoError(t, err)
	require.False(t, g.OK, "in the guard interval")
	require.Equal(t, c.now().Add(2*time.Second).UTC(), g.RetryAt.UTC())
	c.advance(2 * time.Second)
	for i := 1; i <= 3; i++ {
		g, err = q.Take(ctx, "ClientUserEdit", c.now())
		require.NoError(t, err)
		require.True(t, g.OK)
		require.Equal(t, i, g.Used)
		require.Equal(t, 3-i, g.Remaining())
	}
	g, _ = q.Take(ctx, "ClientUserEdit", c.now())
	require.False(t, g.OK)
	require.Equal(t, time.Date(2026, 11, 28, 19, 0, 2, 0, time.UTC), g.RetryAt.UTC(), "the next window, after its guard")
	// Another operation is not affected.
	g, _ = q.Take(ctx, "ServiceRequestAdd", c.now())
	require.True(t, g.OK)
	// Next window: fresh.
	c.set(g.Reset.Add(5 * time.Second))
	g, _ = q.Take(ctx, "ClientUserEdit", c.now())
	require.True(t, g.OK)
	require.Equal(t, 1, g.Used)
	// OUT_OF_LIMIT from the API spends the window.
	require.NoError(t, q.Exhausted(ctx, "ClientUserEdit", c.now()))
	g, _ = q.Take(ctx, "ClientUserEdit", c.now())
	require.False(t, g.OK)
}

func TestLocalNightLimitsAndAccountCap(t *testing.T) {
	ctx := context.Background()
	night := tariff.Night{From: 22, To: 6}
	q, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1, Location: quota.MoscowTime(), Night: night},
		Limits:  quota.Limits{Catalogue: catalogue, Override: map[string]int{"ServiceRequestAdd": 1000}, Reserve: -1, AccountCap: 300},
	})
	require.NoError(t, err)
	day := time.Date(2026, 11, 28, 18, 30, 0, 0, time.UTC) // 21:30 Moscow
	g, _ := q.Take(ctx, "ClientUserEdit", day)
	require.Equal(t, 250, g.Limit)
	nightTime := day.Add(time.Hour) // 22:30 Moscow
	g, _ = q.Take(ctx, "ClientUserEdit", nightTime)
	require.Equal(t, 1250, g.Limit)
	for range 298 {
		g, _ = q.Take(ctx, "ServiceRequestAdd", nightTime)
	}
	// 1 + 298 = 299 calls this window, the cap is 300.
	g, _ = q.Take(ctx, "ClientUserEdit", nightTime)
	require.True(t, g.OK)
	g, _ = q.Take(ctx, "ClientUserEdit", nightTime)
	require.False(t, g.OK, "the account cap binds all operations together")
}
