package emulator

import (
	"fmt"
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
