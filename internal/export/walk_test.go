package export

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

var msk = time.FixedZone("MSK", 3*60*60)

const day = 24 * time.Hour

func TestWalkNext(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 30, 15, 500_000_000, msk) // by day
	hz := time.Date(2026, 3, 10, 12, 20, 15, 0, msk)            // now − 10m, to the second
	night := tariff.Night{From: 22, To: 6}
	base := walk{span: 7 * day, chunk: 7 * day, interval: time.Hour, settle: 10 * time.Minute, night: night, loc: msk}
	with := func(f func(w *walk)) walk {
		w := base
		f(&w)
		return w
	}
	for _, tt := range []struct {
		name string
		w    walk
		want decision
	}{
		{"a backfill reads a whole span at once",
			with(func(w *walk) { w.marker = hz.Add(-30 * day); w.lastTail = now.Add(-time.Second) }),
			decision{read: true, from: hz.Add(-30 * day), to: hz.Add(-23 * day), backfill: true}},
		{"a whole span up to the horizon is still a backfill read",
			with(func(w *walk) { w.marker = hz.Add(-7 * day) }),
			decision{read: true, from: hz.Add(-7 * day), to: hz, backfill: true}},
		{"a halved span reads less",
			with(func(w *walk) { w.marker = hz.Add(-30 * day); w.span = 42 * time.Hour }),
			decision{read: true, from: hz.Add(-30 * day), to: hz.Add(-30*day + 42*time.Hour), backfill: true}},
		{"caught up: the tail waits for the interval",
			with(func(w *walk) { w.marker = hz.Add(-time.Hour); w.lastTail = now.Add(-10 * time.Minute) }),
			decision{at: now.Add(50 * time.Minute)}},
		{"caught up and due: the tail up to the horizon",
			with(func(w *walk) { w.marker = hz.Add(-time.Hour); w.lastTail = now.Add(-2 * time.Hour) }),
			decision{read: true, from: hz.Add(-time.Hour), to: hz}},
		{"never read, or a backfill just ended: the tail at once",
			with(func(w *walk) { w.marker = hz.Add(-time.Hour) }),
			decision{read: true, from: hz.Add(-time.Hour), to: hz}},
		{"nothing new yet: an interval later",
			with(func(w *walk) { w.marker = hz }),
			decision{at: now.Add(time.Hour)}},
		{"a marker ahead of the horizon (clocks moved): an interval later",
			with(func(w *walk) { w.marker = hz.Add(time.Minute) }),
			decision{at: now.Add(time.Hour)}},
		{"a night backfill waits for the night by day",
			with(func(w *walk) { w.marker = hz.Add(-30 * day); w.nightOnly = true }),
			decision{at: time.Date(2026, 3, 10, 22, 0, 0, 0, msk)}},
		{"but reads a chunk it is less than a chunk and an interval behind on",
			with(func(w *walk) { w.marker = hz.Add(-7*day - 30*time.Minute); w.nightOnly = true }),
			decision{read: true, from: hz.Add(-7*day - 30*time.Minute), to: hz.Add(-30 * time.Minute), backfill: true}},
		{"and the tail by day",
			with(func(w *walk) { w.marker = hz.Add(-time.Hour); w.nightOnly = true }),
			decision{read: true, from: hz.Add(-time.Hour), to: hz}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.w.next(now)
			require.Equal(t, tt.want.read, got.read)
			require.Equal(t, tt.want.backfill, got.backfill)
			require.True(t, tt.want.from.Equal(got.from), "from %s, want %s", got.from, tt.want.from)
			require.True(t, tt.want.to.Equal(got.to), "to %s, want %s", got.to, tt.want.to)
			require.True(t, tt.want.at.Equal(got.at), "at %s, want %s", got.at, tt.want.at)
		})
	}
	t.Run("a night backfill reads at night", func(t *testing.T) {
		w := with(func(w *walk) { w.marker = hz.Add(-30 * day); w.nightOnly = true })
		at := time.Date(2026, 3, 10, 23, 15, 0, 0, msk)
		require.True(t, w.next(at).read)
	})
}

func TestNextNight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		night tariff.Night
		now   time.Time
		want  time.Time
	}{
		{"by day: tonight", tariff.Night{From: 22, To: 6}, time.Date(2026, 3, 10, 12, 30, 0, 0, msk), time.Date(2026, 3, 10, 22, 0, 0, 0, msk)},
		{"at night: the next night hour", tariff.Night{From: 22, To: 6}, time.Date(2026, 3, 10, 23, 30, 0, 0, msk), time.Date(2026, 3, 11, 0, 0, 0, 0, msk)},
		{"after it: tomorrow's", tariff.Night{From: 0, To: 7}, time.Date(2026, 3, 10, 8, 0, 0, 0, msk), time.Date(2026, 3, 11, 0, 0, 0, 0, msk)},
		{"over a month's end", tariff.Night{From: 1, To: 5}, time.Date(2026, 3, 31, 20, 0, 0, 0, msk), time.Date(2026, 4, 1, 1, 0, 0, 0, msk)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.True(t, tt.want.Equal(nextNight(tt.now, msk, tt.night)), "%s", nextNight(tt.now, msk, tt.night))
		})
	}
}

func TestSpans(t *testing.T) {
	t.Parallel()
	t.Run("halved to the second down to the minimum, then failing", func(t *testing.T) {
		s := newSpans(7*day, time.Minute)
		var got []time.Duration
		for l := 7 * day; ; {
			h, ok := s.halve(l, false)
			if !ok {
				break
			}
			got = append(got, h)
			require.Equal(t, h, s.cur)
			l = h
		}
		require.Equal(t, 84*time.Hour, got[0])
		require.Equal(t, time.Minute, got[len(got)-1], "the minimum is tried")
		require.Len(t, got, 14, "7 days to a minute: 14 halvings, as many calls")
		for _, h := range got {
			require.Zero(t, h%time.Second)
		}
	})
	t.Run("small answers double it back up to the chunk", func(t *testing.T) {
		s := newSpans(7*day, time.Minute)
		s.halve(7*day, false)
		s.halve(84*time.Hour, false)
		require.Equal(t, 42*time.Hour, s.cur)
		s.fitted(42*time.Hour, 100, 64<<20)
		require.Equal(t, 84*time.Hour, s.cur)
		s.fitted(84*time.Hour, 64<<20/8, 64<<20)
		require.Equal(t, 84*time.Hour, s.cur, "an eighth of the bound is not small")
		s.fitted(84*time.Hour, 100, 64<<20)
		s.fitted(7*day, 100, 64<<20)
		require.Equal(t, 7*day, s.cur, "never beyond the chunk")
	})
	t.Run("a partial tail does not grow it", func(t *testing.T) {
		s := newSpans(7*day, time.Minute)
		s.halve(7*day, false)
		s.fitted(time.Hour, 100, 64<<20)
		require.Equal(t, 84*time.Hour, s.cur)
	})
	t.Run("a refused length is not asked for again", func(t *testing.T) {
		s := newSpans(4*day, time.Minute)
		s.halve(4*day, true)
		s.halve(2*day, true)
		require.Equal(t, day, s.cur)
		s.fitted(day, 100, 64<<20)
		require.Equal(t, day, s.cur, "2 days were refused")
	})
	t.Run("a length close to the minimum halves to it", func(t *testing.T) {
		s := newSpans(7*day, time.Minute)
		h, ok := s.halve(90*time.Second, false)
		require.True(t, ok)
		require.Equal(t, time.Minute, h)
	})
}

func TestLeft(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, msk)
	d, n := left(now.Add(-365*day), now, 10*time.Minute, 7*day)
	require.Equal(t, 365*day-10*time.Minute, d)
	require.Equal(t, 53, n, "a year of calls: 53 chunks of 7 days")
	d, n = left(now, now, 10*time.Minute, 7*day)
	require.Zero(t, d)
	require.Zero(t, n)
}

func TestForecast(t *testing.T) {
	t.Parallel()
	w := quota.Windows{Length: time.Hour, Guard: 2 * time.Second, Location: msk, Night: tariff.Night{From: 0, To: 6}}
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, msk)
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, msk)
	shares := func(day, night int) func(time.Time) int {
		return func(s time.Time) int {
			if w.IsNight(s) {
				return night
			}
			return day
		}
	}
	for _, tt := range []struct {
		name     string
		calls    int
		first    int
		capacity func(time.Time) int
		want     time.Time
		never    bool
	}{
		{"nothing left: now", 0, 0, shares(4, 22), now, false},
		{"within this window: now", 3, 3, shares(4, 22), now, false},
		{"the next window's first", 7, 3, shares(4, 22), start.Add(time.Hour + 2*time.Second), false},
		// A year of calls at 5 calls an hour by day (half of 10): 3 now,
		// then 10 windows of 5, from 13:00 to 22:00.
		{"a year of calls by day", 53, 3, shares(5, 25), time.Date(2026, 3, 10, 22, 0, 2, 0, msk), false},
		// At 25 an hour at night: 50 by 01:00, the last 3 at 02:00.
		{"night only", 53, 0, shares(0, 25), time.Date(2026, 3, 11, 2, 0, 2, 0, msk), false},
		{"no call ever", 1, 0, shares(0, 0), time.Time{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := forecast(forecastInput{now: now, w: w, calls: tt.calls, first: tt.first, capacity: tt.capacity})
			require.Equal(t, !tt.never, ok)
			require.True(t, tt.want.Equal(got), "%s, want %s", got, tt.want)
		})
	}
	require.Equal(t, 4, shareOf(9, 0.5))
	require.Equal(t, 1, shareOf(1, 0.1), "at least one while the limit has any")
	require.Zero(t, shareOf(0, 0.5))
}
