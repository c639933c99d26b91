package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// FeedsConfig sets up the change feeds that run beside the worker. Zero
// fields take internal/feed's defaults; no feeds, no feed part at all.
type FeedsConfig struct {
	// Feeds are the feeds to run, each on a change-tracked read.
	Feeds []feed.Feed
	// Share is the part of each read's limit the feeds may use together,
	// over 0 and at most 1. Defaults to 0.5.
	Share float64
	// TombstoneTTL is how long the mirror keeps a deleted object.
	// Defaults to 30 days.
	TombstoneTTL time.Duration
	// ChangeMaxAge is how long events stay in the change stream. Defaults
	// to 7 days.
	ChangeMaxAge time.Duration
	// MaxResponseBytes caps one answer of a feed's read (a backfill of a
	// large account). Defaults to 1 GiB.
	MaxResponseBytes int64
	// Chunk is how many rows are published and mirrored at a time.
	// Defaults to 256.
	Chunk int
	// LeaseTTL is how long a poller that died keeps its feed from the
	// other replicas. Defaults to 15s.
	LeaseTTL time.Duration
}

// limiter grants calls to the worker's lanes, and to the feeds and the
// exports from their shares, from one ledger: quota.Shared and
// quota.Local are both.
type limiter interface {
	worker.Limiter
	quota.ShareTaker
}

// config is the feeds' configuration for this process: its connection,
// API client, limiter, the quota's time zone (ChangedFrom is written in
// it), its logger and metrics registry.
func (c FeedsConfig) config(cfg Config, nc *nats.Conn, api feed.Reader, lim feed.Limiter, reg prometheus.Registerer, log zerolog.Logger) feed.Config {
	return feed.Config{
		Feeds:            c.Feeds,
		Conn:             nc,
		API:              api,
		Limiter:          lim,
		Share:            c.Share,
		Location:         cfg.Quota.Windows.Location,
		Replicas:         cfg.Worker.Replicas,
		ChangeMaxAge:     c.ChangeMaxAge,
		TombstoneTTL:     c.TombstoneTTL,
		MaxResponseBytes: c.MaxResponseBytes,
		Chunk:            c.Chunk,
		LeaseTTL:         c.LeaseTTL,
		Logger:           log,
		Metrics:          reg,
	}
}

// validate checks the feeds against the catalogue and the settings
// against their ranges, before anything is contacted: a feed on a read
// that takes no ChangedFrom is refused here, with the reads that do.
func (c FeedsConfig) validate() error {
	var errs []error
	if err := (feed.Config{Feeds: c.Feeds, Share: c.Share}).Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"tombstone TTL", c.TombstoneTTL}, {"change max age", c.ChangeMaxAge}, {"lease TTL", c.LeaseTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("feeds: negative %s %s", d.name, d.v))
		}
	}
	if c.MaxResponseBytes < 0 || c.Chunk < 0 {
		errs = append(errs, errors.New("feeds: negative max response bytes or chunk"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}
