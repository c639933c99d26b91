package export

import (
	"time"

	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// The walk through time, pure: where the next chunk is, how long, and
// when to read it. The goroutine around it only moves data.
//
// The service keeps no marker for a history read: a read takes a period
// and answers what happened in it. So an export walks [since, now −
// settle) itself, oldest first, in chunks no longer than the read may
// ask for, and remembers the end of the last chunk whose rows are all
// stored: its marker. Periods are whole seconds (PeriodFrom and PeriodTo
// are written to the second), so markers are too.

// horizon is how far an export may read at now: now less its settle, to
// the whole second before.
func horizon(now time.Time, settle time.Duration) time.Time {
	return now.Add(-settle).Truncate(time.Second)
}

// walk is an export's position and settings, as the next decision needs
// them.
type walk struct {
	// marker is where the next chunk starts.
	marker time.Time
	// span is the length the next chunk asks for (spans.cur).
	span time.Duration
	// chunk, interval and settle are the export's.
	chunk, interval, settle time.Duration
	// lastTail is when the last read of the newest part started (not a
	// backfill's); zero before the first.
	lastTail time.Time
	// nightOnly keeps a backfill to the night hours: NightBackfill with
	// night hours configured.
	nightOnly bool
	// night is the account's night hours, loc its zone.
	night tariff.Night
	loc   *time.Location
}

// decision is what an export does next: read [from, to) now, or decide
// again at at.
type decision struct {
	read     bool
	from, to time.Time
	at       time.Time
	// backfill reports a chunk read as part of a backfill (a whole span
	// was there to read), not the newest part of the history.
	backfill bool
}

// next decides at now. A whole span of history there to read is read at
// once (a backfill goes as fast as the quota grants), unless the export
// keeps its backfill to the night, is more than a chunk and an interval
// behind and it is day: then it waits for the night. Less than a span
// (the export has caught up) is read up to the horizon an interval after
// the last such read started: at once after a backfill.
func (w walk) next(now time.Time) decision {
	end := horizon(now, w.settle)
	if to := w.marker.Add(w.span); !to.After(end) {
		behind := end.Sub(w.marker) > w.chunk+w.interval
		if w.nightOnly && behind && !w.night.Contains(now.In(w.loc).Hour()) {
			return decision{at: nextNight(now, w.loc, w.night)}
		}
		return decision{read: true, from: w.marker, to: to, backfill: true}
	}
	if !w.lastTail.IsZero() {
		if due := w.lastTail.Add(w.interval); now.Before(due) {
			return decision{at: due}
		}
	}
	if !end.After(w.marker) {
		return decision{at: now.Add(w.interval)}
	}
	return decision{read: true, from: w.marker, to: end}
}

// nextNight is the start of the next night hour after now, on the
// account's clock; now plus a day when there is no night (never asked).
func nextNight(now time.Time, loc *time.Location, night tariff.Night) time.Time {
	t := now.In(loc)
	y, m, d := t.Date()
	for h := t.Hour() + 1; h <= t.Hour()+48; h++ {
		at := time.Date(y, m, d, h, 0, 0, 0, loc)
		if night.Contains(at.Hour()) {
			return at
		}
	}
	return now.Add(24 * time.Hour)
}

// spans keeps the length an export's chunks ask for: the chunk, halved
// when an answer was too large or the service refused the period, down
// to the minimum; doubled again, up to the chunk, after answers that
// were small; never again as long as a length the service refused (that
// ceiling lasts as long as the process: a restart tries the chunk once
// more).
type spans struct {
	chunk, min time.Duration
	// cur is the length the next chunk asks for.
	cur time.Duration
	// ceiling is the longest length not refused.
	ceiling time.Duration
}

func newSpans(chunk, minimum time.Duration) spans {
	return spans{chunk: chunk, min: minimum, cur: chunk, ceiling: chunk}
}

// halve is the length to read again after a read of length l was too
// large, or refused: half of it, to the second, and at least the
// minimum. It is false when l was the minimum already: the chunk fails.
func (s *spans) halve(l time.Duration, refused bool) (time.Duration, bool) {
	if l <= s.min {
		return 0, false
	}
	h := max((l / 2).Truncate(time.Second), s.min)
	s.cur = h
	if refused {
		s.ceiling = min(s.ceiling, h)
	}
	return h, true
}

// fitted records a read of length l that succeeded, its rows taking
// bytes (as published) of the maxBytes an answer may have: a whole span
// whose rows took less than an eighth (an answer is about twice its
// rows' JSON) lets the next chunk be twice as long.
func (s *spans) fitted(l time.Duration, bytes, maxBytes int64) {
	if l >= s.cur && bytes < maxBytes/8 {
		s.cur = min(2*s.cur, s.chunk, s.ceiling)
	}
}

// left is what an export still has to read at now: the time from its
// marker to the horizon, and the chunks of length chunk it takes.
func left(marker, now time.Time, settle, chunk time.Duration) (time.Duration, int) {
	d := horizon(now, settle).Sub(marker)
	if d <= 0 || chunk <= 0 {
		return 0, 0
	}
	return d, int((d + chunk - 1) / chunk)
}
