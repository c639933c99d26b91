package main

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

// quotaFlagNames are the flags of the estimate, which only publishing
// takes.
var quotaFlagNames = []string{"quota-window", "quota-guard", "quota-reserve", "quota-tz", "night", "limit", "max-rows", "call-time"}

// quotaSettings are the workers' quota settings as flags give them: the
// estimate of when the last result comes must count windows and limits
// as the workers do, so the flags have the worker's names and defaults.
type quotaSettings struct {
	window, guard time.Duration
	reserve       float64
	tz, night     string
	limits        opCounts
}

// quotaFlags defines the flags of the estimate on fs; MaxRows and
// CallTime go straight to c.
func quotaFlags(fs *flag.FlagSet, c *enqueue.Config) *quotaSettings {
	q := &quotaSettings{limits: opCounts{}}
	c.MaxRows = map[string]int{}
	fs.DurationVar(&q.window, "quota-window", time.Hour, "the workers' quota window `length` (their --quota-window), for the estimate")
	fs.DurationVar(&q.guard, "quota-guard", 2*time.Second, "the workers' call-free `interval` at each window edge (their --quota-guard)")
	fs.Float64Var(&q.reserve, "quota-reserve", 0.1, "the workers' `share` of each limit left to other clients (their --quota-reserve)")
	fs.StringVar(&q.tz, "quota-tz", "Europe/Moscow", "the account's time `zone` (the workers' --quota-tz)")
	fs.StringVar(&q.night, "night", "", "the workers' night `hours` HH-HH, which use the night limits (their --night)")
	fs.Var(q.limits, "limit", "`Op=calls` per window overriding the catalogue, repeatable, *=n for all (the workers' --limit)")
	fs.Var(opCounts(c.MaxRows), "max-rows", "`Op=rows` per call where the workers' config sets max_rows below the catalogue's, repeatable")
	fs.DurationVar(&c.CallTime, "call-time", 0, "the API's `time` per call of one operation, for the estimate; 0: none")
	for _, name := range quotaFlagNames {
		if env := envName(name); env != "" {
			f := fs.Lookup(name)
			f.Usage += " [" + env + "]"
		}
	}
	return q
}

// config returns the quota the flags describe, checked as a worker
// checks its own.
func (q *quotaSettings) config() (quota.Config, error) {
	loc, err := time.LoadLocation(q.tz)
	if err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: --quota-tz: %w", err)
	}
	night, err := quota.ParseNight(q.night)
	if err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: --night: %w", err)
	}
	reserve := q.reserve
	if reserve == 0 {
		reserve = -1 // an explicit 0 means no reserve, as for the worker
	}
	cfg := quota.Config{
		Windows: quota.Windows{Length: q.window, Guard: q.guard, Location: loc, Night: night},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: q.limits, Reserve: reserve},
	}
	if _, err := quota.NewReader(quota.ReaderConfig{Config: cfg}); err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: %w", err)
	}
	return cfg, nil
}

// opCounts is a repeatable Op=N flag (comma-separated pairs too), the
// form of the worker's --limit.
type opCounts map[string]int

func (o opCounts) String() string {
	parts := make([]string, 0, len(o))
	for _, k := range slices.Sorted(maps.Keys(o)) {
		parts = append(parts, k+"="+strconv.Itoa(o[k]))
	}
	return strings.Join(parts, ",")
}

func (o opCounts) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		op, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		op = strings.TrimSpace(op)
		v, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || op == "" || err != nil || v < 0 {
			return fmt.Errorf("want Operation=count, got %q", part)
		}
		if _, known := catalog.Lookup(op); !known && op != "*" {
			return fmt.Errorf("unknown operation %q", op)
		}
		o[op] = v
	}
	return nil
}
