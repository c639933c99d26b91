// Package tariff reads the account's call limits as an operator writes
// them: per-operation overrides ("ClientUserEdit=40,*=100") and the night
// hours in which the API's night limits apply ("22-06"). It is the one
// parser of both for the worker (through quota) and the sandbox service
// (the emulator), which must not import each other, so that a setting
// means the same thing to both.
//
// Invariants: the rules are these, and only these, everywhere:
//
//   - Limits: comma-separated Op=N pairs; spaces around a pair, an
//     operation or a number are ignored, and so are empty pairs (a
//     trailing comma in an environment variable); Op is an operation name
//     (letters, digits, '_') or "*" for every operation not named; N is a
//     whole number of calls, 0 or more (0: no call at all); an operation
//     given twice is an error, not a silent "last wins". Whether an
//     operation exists is checked against a catalogue by CheckLimits,
//     which the worker and the emulator both apply to their settings.
//   - Night: "HH-HH", hours from 0 to 24, the first below 24, the two
//     different; [From, To) wraps past midnight when From > To ("22-06");
//     "0-24" makes every hour a night hour; "" means no night.
//
// The package imports only the standard library.
package tariff

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// All is the operation name that sets every operation not named itself.
const All = "*"

// ParseLimits reads comma-separated Op=N pairs into a map of calls by
// operation, by the rules of the package comment. An empty s gives an
// empty map.
func ParseLimits(s string) (map[string]int, error) {
	out := map[string]int{}
	if err := addLimits(out, s); err != nil {
		return nil, err
	}
	return out, nil
}

// addLimits adds the pairs of s to m, refusing an operation m holds
// already. m is unchanged on error.
func addLimits(m map[string]int, s string) error {
	add := map[string]int{}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		op, num, ok := strings.Cut(pair, "=")
		op = strings.TrimSpace(op)
		if !ok || !validOp(op) {
			return fmt.Errorf("limit %q: want Op=n or *=n", pair)
		}
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 0 {
			return fmt.Errorf("limit %q: want a whole number of calls, 0 or more", pair)
		}
		_, dup := add[op]
		if _, had := m[op]; had || dup {
			return fmt.Errorf("limit for %s given twice", op)
		}
		add[op] = n
	}
	maps.Copy(m, add)
	return nil
}

// validOp reports whether op can name an operation: "*", or letters,
// digits and underscores. (Whether it is one is CheckLimits' question.)
func validOp(op string) bool {
	if op == All {
		return true
	}
	if op == "" || len(op) > 128 {
		return false
	}
	for _, r := range op {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// CheckLimits reports every problem of limits at once: an operation that
// is neither "*" nor known, a negative number of calls. The problems are
// sorted by operation and worded to go inside the caller's error.
func CheckLimits(limits map[string]int, known func(op string) bool) error {
	var errs []error
	for _, op := range slices.Sorted(maps.Keys(limits)) {
		if op != All && !known(op) {
			errs = append(errs, fmt.Errorf("limit for unknown operation %q", op))
		}
		if n := limits[op]; n < 0 {
			errs = append(errs, fmt.Errorf("negative limit %d for %s", n, op))
		}
	}
	return errors.Join(errs...)
}

// FormatLimits writes limits as ParseLimits reads them, sorted by
// operation: "*=100,ClientUserEdit=40".
func FormatLimits(limits map[string]int) string {
	parts := make([]string, 0, len(limits))
	for _, op := range slices.Sorted(maps.Keys(limits)) {
		parts = append(parts, op+"="+strconv.Itoa(limits[op]))
	}
	return strings.Join(parts, ",")
}

// LimitFlag is a repeatable flag of limits (flag.Value): each use adds
// the pairs of its value, by the rules of ParseLimits, and an operation
// given in two uses is an error too. The zero value is ready; use it as
// fs.Var(&limits, "limit", ...) and pass the map on.
type LimitFlag map[string]int

// String returns the limits as FormatLimits writes them.
func (f *LimitFlag) String() string {
	if f == nil {
		return ""
	}
	return FormatLimits(*f)
}

// Set adds the pairs of s.
func (f *LimitFlag) Set(s string) error {
	if *f == nil {
		*f = LimitFlag{}
	}
	return addLimits(*f, s)
}
