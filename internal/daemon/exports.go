package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/export"
)

// ExportsConfig sets up the history exports that run beside the worker.
// Zero fields take internal/export's defaults; no exports, no export part
// at all (a rerun still reads any period read).
type ExportsConfig struct {
	// Exports are the exports to run, each on a read of a period.
	Exports []export.Export
	// Share is the part of each history read's limit the exports (and
	// reruns) may use together, over 0 and at most 1. Defaults to 0.5.
	Share float64
	// HistoryMaxAge is how long rows stay in CONNECT_HISTORY. Defaults
	// to 30 days.
	HistoryMaxAge time.Duration
	// MaxResponseBytes is the largest answer of one read: a chunk whose
	// answer is larger is halved. Defaults to 64 MiB.
	MaxResponseBytes int64
	// LeaseTTL is how long a reader that died keeps its export from the
	// other replicas. Defaults to 15s.
	LeaseTTL time.Duration
}

// config is the exports' configuration for this process: its connection,
// API client and limiter, the quota's time zone (PeriodFrom and PeriodTo
// are written in it) and night hours (a night backfill keeps to them),
// the replicas of its stream and buckets, its logger and metrics
// registry.
func (c ExportsConfig) config(cfg Config, nc *nats.Conn, api export.Reader, lim export.Limiter, reg prometheus.Registerer, log zerolog.Logger) export.Config {
	return export.Config{
		Exports:          c.Exports,
		Conn:             nc,
		API:              api,
		Limiter:          lim,
		Share:            c.Share,
		Location:         cfg.Quota.Windows.Location,
		Night:            cfg.Quota.Windows.Night,
		Replicas:         cfg.Worker.Replicas,
		HistoryMaxAge:    c.HistoryMaxAge,
		MaxResponseBytes: c.MaxResponseBytes,
		LeaseTTL:         c.LeaseTTL,
		Logger:           log,
		Metrics:          reg,
	}
}

// validate checks the exports against the catalogue (a read that takes
// no period is refused here, with the reads that do) and the settings
// against their ranges, before anything is contacted.
func (c ExportsConfig) validate(cfg Config) error {
	var errs []error
	if err := (export.Config{Exports: c.Exports, Share: c.Share, Night: cfg.Quota.Windows.Night}).Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"history max age", c.HistoryMaxAge}, {"lease TTL", c.LeaseTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("exports: negative %s %s", d.name, d.v))
		}
	}
	for _, x := range c.Exports {
		if op, ok := catalog.Lookup(x.Op); ok && cfg.Files.Off {
			if p, ok := op.Period(); ok && p.Archive {
				errs = append(errs, fmt.Errorf("exports: %s answers a ZIP of files, exported into the files bucket, which --no-files switches off", x.Op))
			}
		}
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("exports: negative max response bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}
