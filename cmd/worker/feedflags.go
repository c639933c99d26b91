package main

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/feed"
)

// feedFlag is --feed <Read or feed name>=<interval>, repeatable, or the
// FEEDS variable's comma-separated list of the same.
type feedFlag struct {
	items []feedItem
	// fromEnv marks items read from FEEDS: the first --feed replaces them.
	fromEnv bool
}

// feedItem is one --feed: a name (a read, or the name of a feed of the
// config file) and an interval.
type feedItem struct {
	name     string
	interval time.Duration
}

func (f *feedFlag) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, len(f.items))
	for i, it := range f.items {
		parts[i] = it.name + "=" + it.interval.String()
	}
	return strings.Join(parts, ",")
}

// Set adds one feed; the first --feed replaces what FEEDS gave.
func (f *feedFlag) Set(s string) error {
	if f.fromEnv {
		f.items, f.fromEnv = nil, false
	}
	it, err := parseFeedItem(s)
	if err != nil {
		return err
	}
	for _, have := range f.items {
		if have.name == it.name {
			return fmt.Errorf("feed %s given twice", it.name)
		}
	}
	f.items = append(f.items, it)
	return nil
}

// setList reads FEEDS: "ClientUserRead=30s,SpecialistRead=1m".
func (f *feedFlag) setList(s string) error {
	for _, part := range splitList(s) {
		if err := f.Set(part); err != nil {
			return err
		}
	}
	f.fromEnv = len(f.items) > 0
	return nil
}

// parseFeedItem reads "Read=interval".
func parseFeedItem(s string) (feedItem, error) {
	name, iv, ok := strings.Cut(strings.TrimSpace(s), "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return feedItem{}, fmt.Errorf("feed %q: want <Read>=<interval>, e.g. ClientUserRead=30s", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(iv))
	if err != nil || d <= 0 {
		return feedItem{}, fmt.Errorf("feed %s: interval %q: want a positive duration such as 30s", name, iv)
	}
	return feedItem{name: name, interval: d}, nil
}

// mergeFeeds is the one rule that joins the config file's feeds and the
// --feed flags (or FEEDS): the file's feeds come first, in its order; a
// flag naming one of them (by its name, which defaults to its read) sets
// its interval and keeps its other settings (filters, overlap, since);
// any other flag adds a feed of that read with the defaults.
func mergeFeeds(file []feed.Feed, flags []feedItem) []feed.Feed {
	out := append([]feed.Feed(nil), file...)
	for _, it := range flags {
		found := false
		for i := range out {
			if cmp.Or(out[i].Name, out[i].Read) == it.name {
				out[i].Interval, found = feed.Duration(it.interval), true
			}
		}
		if !found {
			out = append(out, feed.Feed{Read: it.name, Interval: feed.Duration(it.interval)})
		}
	}
	return out
}
