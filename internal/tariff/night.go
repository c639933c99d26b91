package tariff

import (
	"fmt"
	"strings"
)

// Night is the span of hours [From, To) of the account's day in which
// the API's night limits apply, on the account's wall clock. From > To
// wraps past midnight (22-06); To may be 24 (midnight at the end of the
// day). From == To, as in the zero Night, means no night: the day limits
// apply at every hour.
type Night struct {
	From, To int
}

// ParseNight reads night hours "HH-HH" ("22-06", "0-7", "20-24") by the
// rules of the package comment; "" is no night.
func ParseNight(s string) (Night, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Night{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, okFrom := hour(a)
	to, okTo := hour(b)
	if !ok || !okFrom || !okTo {
		return Night{}, fmt.Errorf("night hours %q: want HH-HH, e.g. 22-06", s)
	}
	if from == to {
		return Night{}, fmt.Errorf("night hours %q: the two hours are the same; give none for no night", s)
	}
	n := Night{From: from, To: to}
	if err := n.Validate(); err != nil {
		return Night{}, fmt.Errorf("night hours %q: %w", s, err)
	}
	return n, nil
}

// hour reads one or two decimal digits.
func hour(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 1 || len(s) > 2 {
		return 0, false
	}
	h := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		h = 10*h + int(c-'0')
	}
	return h, true
}

// Validate checks the hours of a Night built in code: From from 0 to 23,
// To from 0 to 24 (a Night with equal hours is no night).
func (n Night) Validate() error {
	if n.From == n.To {
		return nil
	}
	if n.From < 0 || n.From > 23 || n.To < 0 || n.To > 24 {
		return fmt.Errorf("hours run from 0 to 24 and the first is below 24, got %d-%d", n.From, n.To)
	}
	return nil
}

// IsSet reports whether there are night hours.
func (n Night) IsSet() bool { return n.From != n.To }

// Contains reports whether hour (0-23) is a night hour.
func (n Night) Contains(hour int) bool {
	switch {
	case n.From == n.To:
		return false
	case n.From < n.To:
		return n.From <= hour && hour < n.To
	default: // wraps past midnight
		return hour >= n.From || hour < n.To
	}
}

// String returns "HH-HH" as ParseNight reads it, or "" for no night.
func (n Night) String() string {
	if n.From == n.To {
		return ""
	}
	return fmt.Sprintf("%02d-%02d", n.From, n.To)
}
