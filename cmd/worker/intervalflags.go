package main

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
)

// intervalFlag is a repeatable flag of <name>=<interval> items, or its
// variable's comma-separated list of the same: --feed and FEEDS,
// --export and EXPORTS.
type intervalFlag struct {
	// kind names the flag's items in errors ("feed", "export"), form is
	// their shape ("<Read>=<interval>") and example one item as it would
	// be given.
	kind, form, example string
	items               []intervalItem
	// fromEnv marks items read from the variable: the first flag
	// replaces them.
	fromEnv bool
}

// intervalItem is one item: a name (an operation, or the name of an item
// of the config file) and an interval.
type intervalItem struct {
	name     string
	interval time.Duration
}

func (f *intervalFlag) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, len(f.items))
	for i, it := range f.items {
		parts[i] = it.name + "=" + it.interval.String()
	}
	return strings.Join(parts, ",")
}

// Set adds one item; the first flag replaces what the variable gave.
func (f *intervalFlag) Set(s string) error {
	if f.fromEnv {
		f.items, f.fromEnv = nil, false
	}
	it, err := f.parse(s)
	if err != nil {
		return err
	}
	for _, have := range f.items {
		if have.name == it.name {
			return fmt.Errorf("%s %s given twice", f.kind, it.name)
		}
	}
	f.items = append(f.items, it)
	return nil
}

// setList reads the variable: "ClientUserRead=30s,SpecialistRead=1m".
func (f *intervalFlag) setList(s string) error {
	for _, part := range splitList(s) {
		if err := f.Set(part); err != nil {
			return err
		}
	}
	f.fromEnv = len(f.items) > 0
	return nil
}

// parse reads "Name=interval".
func (f *intervalFlag) parse(s string) (intervalItem, error) {
	name, iv, ok := strings.Cut(strings.TrimSpace(s), "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return intervalItem{}, fmt.Errorf("%s %q: want %s, e.g. %s", f.kind, s, f.form, f.example)
	}
	d, err := time.ParseDuration(strings.TrimSpace(iv))
	if err != nil || d <= 0 {
		return intervalItem{}, fmt.Errorf("%s %s: interval %q: want a positive duration such as 30s", f.kind, name, iv)
	}
	return intervalItem{name: name, interval: d}, nil
}

// mergeIntervals is the one rule that joins the config file's items (feeds,
// exports) and the flags (or their variable): the file's items come
// first, in its order; a flag naming one of them (by its name, which
// defaults to its operation) sets its interval and keeps its other
// settings (filters, since, …); any other flag adds an item of that
// operation with the defaults. name returns an item's name, set sets its
// interval, and fresh makes the item of a flag naming none of the file's.
func mergeIntervals[T any](file []T, flags []intervalItem, name func(T) string, set func(*T, time.Duration), fresh func(op string, interval time.Duration) T) []T {
	out := append([]T(nil), file...)
	for _, it := range flags {
		found := false
		for i := range out {
			if name(out[i]) == it.name {
				set(&out[i], it.interval)
				found = true
			}
		}
		if !found {
			out = append(out, fresh(it.name, it.interval))
		}
	}
	return out
}

// mergeFeeds joins the file's feeds and the --feed flags: mergeIntervals.
func mergeFeeds(file []feed.Feed, flags []intervalItem) []feed.Feed {
	return mergeIntervals(file, flags,
		func(f feed.Feed) string { return cmp.Or(f.Name, f.Read) },
		func(f *feed.Feed, d time.Duration) { f.Interval = feed.Duration(d) },
		func(op string, d time.Duration) feed.Feed { return feed.Feed{Read: op, Interval: feed.Duration(d)} })
}

// mergeExports joins the file's exports and the --export flags:
// mergeIntervals.
func mergeExports(file []export.Export, flags []intervalItem) []export.Export {
	return mergeIntervals(file, flags,
		func(x export.Export) string { return cmp.Or(x.Name, x.Op) },
		func(x *export.Export, d time.Duration) { x.Interval = export.Duration(d) },
		func(op string, d time.Duration) export.Export {
			return export.Export{Op: op, Interval: export.Duration(d)}
		})
}
