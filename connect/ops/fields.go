package ops

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/connect"
)

// The conversions of field values to the forms the contract carries.
func text(s string) any        { return s }
func decimal(f float64) any    { return f }
func boolean(b bool) any       { return b }
func binary(b []byte) any      { return b }
func date(t time.Time) any     { return t.Format("2006-01-02") }
func dateTime(t time.Time) any { return t.Format("2006-01-02T15:04:05") }

// put sets a required field unless it holds its zero value, which stands
// for not set: the worker's check then reports it "required".
func put[T any](f map[string]any, name string, v T, conv func(T) any) {
	switch x := any(v).(type) {
	case string:
		if x == "" {
			return
		}
	case time.Time:
		if x.IsZero() {
			return
		}
	case []byte:
		if x == nil {
			return
		}
	}
	f[name] = conv(v)
}

// putOpt sets an optional field that is set: its value, or nil for a
// null.
func putOpt[T any](f map[string]any, name string, o connect.Opt[T], conv func(T) any) {
	switch v, ok := o.Get(); {
	case ok:
		f[name] = conv(v)
	case o.IsNull():
		f[name] = nil
	}
}

// merge adds the fields given as a map to the typed ones; a field given
// both ways is an error.
func merge(op string, f, extra map[string]any) (map[string]any, error) {
	var twice []string
	for name, v := range extra {
		if _, dup := f[name]; dup {
			twice = append(twice, name)
			continue
		}
		f[name] = v
	}
	if len(twice) > 0 {
		sort.Strings(twice)
		return nil, fmt.Errorf("ops: %s: %s given both as a typed field and in Fields", op, strings.Join(twice, ", "))
	}
	return f, nil
}
