package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
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
	limits        tariff.LimitFlag
	maxRows       tariff.LimitFlag
}

// quotaFlags defines the flags of the estimate on fs; MaxRows and
// CallTime go straight to c.
func quotaFlags(fs *flag.FlagSet, c *enqueue.Config) *quotaSettings {
	q := &quotaSettings{}
	fs.DurationVar(&q.window, "quota-window", time.Hour, "the workers' quota window `length` (their --quota-window), for the estimate")
	fs.DurationVar(&q.guard, "quota-guard", 2*time.Second, "the workers' call-free `interval` at each window edge (their --quota-guard)")
	fs.Float64Var(&q.reserve, "quota-reserve", 0.1, "the workers' `share` of each limit left to other clients (their --quota-reserve)")
	fs.StringVar(&q.tz, "quota-tz", "Europe/Moscow", "the account's time `zone` (the workers' --quota-tz)")
	fs.StringVar(&q.night, "night", "", "the workers' night `hours` HH-HH, which use the night limits (their --night)")
	fs.Var(&q.limits, "limit", "`Op=calls` per window overriding the catalogue, repeatable, *=n for all (the workers' --limit)")
	fs.Var(&q.maxRows, "max-rows", "`Op=rows` per call where the workers' config sets max_rows below the catalogue's, repeatable")
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
// checks its own; the --max-rows pairs go to c.
func (q *quotaSettings) config(c *enqueue.Config) (quota.Config, error) {
	loc, err := time.LoadLocation(q.tz)
	if err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: --quota-tz: %w", err)
	}
	night, err := tariff.ParseNight(q.night)
	if err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: --night: %w", err)
	}
	reserve := q.reserve
	if reserve == 0 {
		reserve = -1 // an explicit 0 means no reserve, as for the worker
	}
	for _, m := range []tariff.LimitFlag{q.limits, q.maxRows} {
		if err := tariff.CheckLimits(m, func(op string) bool { _, ok := catalog.Lookup(op); return ok }); err != nil {
			return quota.Config{}, fmt.Errorf("enqueue: %w", err)
		}
	}
	cfg := quota.Config{
		Windows: quota.Windows{Length: q.window, Guard: q.guard, Location: loc, Night: night},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: q.limits, Reserve: reserve},
	}
	if _, err := quota.NewReader(quota.ReaderConfig{Config: cfg}); err != nil {
		return quota.Config{}, fmt.Errorf("enqueue: %w", err)
	}
	c.MaxRows = q.maxRows
	return cfg, nil
}
