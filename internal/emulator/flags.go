package emulator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseLatency reads a latency setting: "" or "0" for none, a duration
// such as "20ms" for a fixed latency, or "10ms-50ms" for a latency drawn
// uniformly between the two bounds. It returns the bounds for
// Config.LatencyMin and Config.LatencyMax.
func ParseLatency(s string) (lo, hi time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	// A duration never contains '-' except as a leading sign, and
	// negative latencies are refused anyway: cut after the first byte.
	first, second, isRange := strings.Cut(s[1:], "-")
	first = s[:1] + first
	if lo, err = parseNonNegative(first); err != nil {
		return 0, 0, fmt.Errorf("emulator: latency %q: %w", s, err)
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseNonNegative(second); err != nil {
		return 0, 0, fmt.Errorf("emulator: latency %q: %w", s, err)
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("emulator: latency %q: upper bound below lower bound", s)
	}
	return lo, hi, nil
}

// parseNonNegative reads one bound of a latency. A bare "0" is allowed
// (time.ParseDuration accepts it too, but says so nowhere obvious).
func parseNonNegative(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 20ms or a range such as 10ms-50ms: %w", err)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %s", d)
	}
	return d, nil
}

// LimitFlag collects per-operation call limits given as Op=n, a flag.Value
// for a repeatable --limit flag. One Set may carry several pairs separated
// by commas (handy in an environment variable); "*" names every operation.
// Operation names are checked by New, not here. Use it as
// fs.Var(&limits, "limit", ...) and pass the map as Config.Limits.
type LimitFlag map[string]int

// String returns the pairs sorted by operation, comma-separated.
func (f *LimitFlag) String() string {
	if f == nil || len(*f) == 0 {
		return ""
	}
	ops := make([]string, 0, len(*f))
	for op := range *f {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for i, op := range ops {
		ops[i] = op + "=" + strconv.Itoa((*f)[op])
	}
	return strings.Join(ops, ",")
}

// Set adds the pairs of s; a later pair for the same operation wins.
func (f *LimitFlag) Set(s string) error {
	if *f == nil {
		*f = LimitFlag{}
	}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue // a trailing comma in an environment variable
		}
		op, num, ok := strings.Cut(pair, "=")
		op = strings.TrimSpace(op)
		if !ok || op == "" {
			return fmt.Errorf("emulator: limit %q: want Op=n or *=n", pair)
		}
		// Zero is a valid limit: every call of the operation is refused,
		// which is how a test makes OUT_OF_LIMIT happen at once.
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 0 {
			return fmt.Errorf("emulator: limit %q: want a whole number of calls, 0 or more", pair)
		}
		(*f)[op] = n
	}
	return nil
}

// NightHours are the hours [From, To) of the account's day during which
// the night limits apply. From > To wraps past midnight (22-6); From == To
// (the zero value) means there is no night.
type NightHours struct {
	From, To int
}

// ParseNight reads "HH-HH", e.g. "22-06" or "0-7"; "" means no night.
// Hours run from 0 to 24.
func ParseNight(s string) (NightHours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return NightHours{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return NightHours{}, fmt.Errorf("emulator: night %q: want HH-HH, e.g. 22-06", s)
	}
	n := NightHours{}
	var err1, err2 error
	n.From, err1 = strconv.Atoi(strings.TrimSpace(from))
	n.To, err2 = strconv.Atoi(strings.TrimSpace(to))
	if err1 != nil || err2 != nil {
		return NightHours{}, fmt.Errorf("emulator: night %q: want HH-HH, e.g. 22-06", s)
	}
	if err := n.validate(); err != nil {
		return NightHours{}, fmt.Errorf("emulator: night %q: %w", s, err)
	}
	return n, nil
}

// validate checks the hours. 24 is allowed as an end ("20-24" is the
// evening up to midnight) and, harmlessly, as a start.
func (n NightHours) validate() error {
	if n.From < 0 || n.From > 24 || n.To < 0 || n.To > 24 {
		return fmt.Errorf("hours must be between 0 and 24, got %d-%d", n.From, n.To)
	}
	return nil
}

// Contains reports whether hour (0-23) is a night hour.
func (n NightHours) Contains(hour int) bool {
	switch {
	case n.From == n.To:
		return false
	case n.From < n.To:
		return n.From <= hour && hour < n.To
	default: // wraps past midnight
		return hour >= n.From || hour < n.To
	}
}

// String returns "HH-HH", or "" when there is no night.
func (n NightHours) String() string {
	if n.From == n.To {
		return ""
	}
	return fmt.Sprintf("%02d-%02d", n.From, n.To)
}
