package quota

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// Windows is the calendar of limit windows: clock-aligned spans of equal
// length, with a guard interval at each boundary in which no call is made.
type Windows struct {
	// Length of a window. Defaults to 1h.
	Length time.Duration
	// Guard is kept free of calls after each window starts and before it
	// ends, so that clock skew between replicas and the API never moves a
	// call into the neighbouring window. Defaults to 2s; negative means
	// none. It must be less than a quarter of Length.
	Guard time.Duration
	// Location is the account's time zone: windows are aligned to its wall
	// clock and night hours read in it. Defaults to Europe/Moscow.
	Location *time.Location
	// Night hours use the night limits (read with tariff.ParseNight).
	// Defaults to none: the day limits at every hour.
	Night tariff.Night
}

// withDefaults fills zero fields and checks the rest.
func (w Windows) withDefaults() (Windows, error) {
	if w.Length == 0 {
		w.Length = time.Hour
	}
	if w.Length < time.Second || w.Length%time.Second != 0 {
		return w, fmt.Errorf("quota: window length %s: want whole seconds, at least 1s", w.Length)
	}
	if w.Guard == 0 {
		w.Guard = 2 * time.Second
	}
	if w.Guard < 0 {
		w.Guard = 0
	}
	if 4*w.Guard >= w.Length {
		return w, fmt.Errorf("quota: guard %s is too long for windows of %s", w.Guard, w.Length)
	}
	if w.Location == nil {
		w.Location = MoscowTime()
	}
	if err := w.Night.Validate(); err != nil {
		return w, fmt.Errorf("quota: night hours: %w", err)
	}
	return w, nil
}

// MoscowTime returns Europe/Moscow, or a fixed UTC+3 zone (what Moscow has
// kept since 2014) when the time zone database is not available.
func MoscowTime() *time.Location {
	if loc, err := time.LoadLocation("Europe/Moscow"); err == nil {
		return loc
	}
	return time.FixedZone("MSK", 3*60*60)
}

// Start returns the start of the window holding t: windows are aligned to
// multiples of the length since the Unix epoch on the account's wall
// clock (so hour windows are clock hours in any zone).
func (w Windows) Start(t time.Time) time.Time {
	_, offset := t.In(w.Location).Zone()
	length := int64(w.Length / time.Second)
	wall := t.Unix() + int64(offset)
	start := wall - mod(wall, length) - int64(offset)
	return time.Unix(start, 0).In(w.Location)
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Open reports whether a call may be made at t, and if not, when calls are
// next allowed (t is in a guard interval).
func (w Windows) Open(t time.Time) (bool, time.Time) {
	start := w.Start(t)
	end := start.Add(w.Length)
	switch {
	case t.Before(start.Add(w.Guard)):
		return false, start.Add(w.Guard)
	case !t.Before(end.Add(-w.Guard)):
		return false, end.Add(w.Guard)
	}
	return true, time.Time{}
}

// IsNight reports whether the window holding t uses night limits: the
// hour of the window's start on the account's clock.
func (w Windows) IsNight(t time.Time) bool {
	return w.Night.Contains(w.Start(t).Hour())
}

// Limits says how many calls each operation may make in one window.
type Limits struct {
	// Catalogue returns an operation's day and night limits in calls per
	// hour, and whether the operation is known.
	Catalogue func(op string) (day, night int, ok bool)
	// Override sets an operation's calls per window, day and night alike,
	// replacing the catalogue ("*" sets every operation not named). Read
	// with tariff.ParseLimits; every operation must be in the catalogue.
	Override map[string]int
	// Reserve is the share of each limit left for the account's other
	// clients, 0 to 0.9. Defaults to 0.1; negative means none.
	Reserve float64
	// AccountCap caps the calls of all operations together in one window;
	// 0 means no cap.
	AccountCap int
}

// ErrUnknownOperation is returned for an operation the limits do not know.
var ErrUnknownOperation = errors.New("quota: unknown operation")

func (l Limits) withDefaults() (Limits, error) {
	if l.Catalogue == nil {
		return l, errors.New("quota: Limits.Catalogue is required")
	}
	if l.Reserve == 0 {
		l.Reserve = 0.1
	}
	if l.Reserve < 0 {
		l.Reserve = 0
	}
	if l.Reserve > 0.9 {
		return l, fmt.Errorf("quota: reserve %.2f leaves too little; want at most 0.9", l.Reserve)
	}
	known := func(op string) bool {
		_, _, ok := l.Catalogue(op)
		return ok
	}
	if err := tariff.CheckLimits(l.Override, known); err != nil {
		return l, fmt.Errorf("quota: limits: %w", err)
	}
	if l.AccountCap < 0 {
		return l, fmt.Errorf("quota: negative account cap %d", l.AccountCap)
	}
	return l, nil
}

// For returns how many calls op may make in a window of length, night or
// day: the override, or the catalogue's hourly limit scaled to the window
// length (rounded down, at least 1); less the reserve (rounded down, but a
// limit of 1 or more keeps at least 1).
func (l Limits) For(op string, night bool, length time.Duration) (int, error) {
	n, ok := l.Override[op]
	if !ok {
		n, ok = l.Override["*"]
	}
	if !ok {
		day, nightLimit, known := l.Catalogue(op)
		if !known {
			return 0, fmt.Errorf("%w %q", ErrUnknownOperation, op)
		}
		perHour := day
		if night {
			perHour = nightLimit
		}
		n = int(math.Floor(float64(perHour) * length.Hours()))
		if perHour > 0 && n < 1 {
			n = 1
		}
	}
	if n <= 0 {
		return 0, nil
	}
	kept := int(math.Floor(float64(n) * (1 - max(l.Reserve, 0))))
	return max(kept, 1), nil
}
