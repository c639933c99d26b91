package feed

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/lease"
	"github.com/onec-connect/connect-bridge/internal/retry"
)

// Runner runs the feeds of one process: for each, it waits for the
// feed's lease, then polls it every Interval while it holds the lease.
type Runner struct {
	cfg Config
	js  jetstream.JetStream
	st  *store
	log zerolog.Logger
	met *feedMetrics
	// tracer records the polls' spans.
	tracer trace.Tracer
	owner  string // this process's name in the leases

	// markers holds every feed's marker as last stored, for the lag.
	mu      sync.Mutex // protects markers
	markers map[string]time.Time
	ready   atomic.Bool
}

// New checks cfg and prepares the feeds; nothing is contacted until Run.
func New(cfg Config) (*Runner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstreamFor(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	r := &Runner{
		cfg: cfg, js: js,
		st:      &store{nc: cfg.Conn, js: js, n: cfg.Names, tombstone: cfg.TombstoneTTL},
		log:     cfg.Logger.With().Str("component", "feed").Logger(),
		owner:   nuid.Next(),
		markers: map[string]time.Time{},
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	r.tracer = tp.Tracer("github.com/onec-connect/connect-bridge/internal/feed")
	if r.met, err = newFeedMetrics(cfg.Metrics, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Run sets the stream and buckets up, then runs every feed until ctx
// ends. It returns nil after a clean stop.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.cfg.Feeds) == 0 {
		return nil
	}
	err := retry.Do(ctx, r.cfg.Clock, retry.Policy{
		Initial: 250 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(err error, _ int, wait time.Duration) {
			r.log.Warn().Err(err).Dur("retry_in", wait).Msg("setting up the change stream and the mirror failed")
		},
	}, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 2*natsTimeout)
		defer cancel()
		return r.st.setup(sctx, r.cfg)
	})
	if err != nil {
		return fmt.Errorf("feed: setup: %w", err)
	}
	holder, err := lease.New(lease.Config{KV: r.st.leases, TTL: r.cfg.LeaseTTL, Owner: r.owner, Clock: r.cfg.Clock, Logger: r.log})
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	r.ready.Store(true)
	var wg sync.WaitGroup
	for _, f := range r.cfg.Feeds {
		op, _ := catalog.Lookup(f.Read)
		wg.Go(func() { r.runFeed(ctx, holder, f, op) })
	}
	wg.Wait()
	return nil
}

// runFeed waits for f's lease and polls while it holds it, until ctx
// ends: when the lease is lost, the poll under way is cancelled and the
// feed goes back to waiting for it.
func (r *Runner) runFeed(ctx context.Context, holder *lease.Holder, f Feed, op *catalog.Operation) {
	log := r.log.With().Str("feed", f.Name).Logger()
	holder.Run(ctx, f.Name, func(ctx context.Context) {
		log.Info().Msg("polling the feed")
		r.pollLoop(ctx, f, op, log)
	})
}

// pollLoop polls f every Interval (from one poll's start to the next's),
// or when the quota grants again, until ctx ends.
func (r *Runner) pollLoop(ctx context.Context, f Feed, op *catalog.Operation, log zerolog.Logger) {
	var st State
	var rev uint64
	loaded := false
	bo, _ := retry.NewBackoff(retry.Policy{Initial: time.Second, Max: time.Minute})
	for ctx.Err() == nil {
		if !loaded {
			lctx, cancel := context.WithTimeout(ctx, natsTimeout)
			var err error
			st, rev, err = r.st.state(lctx, f.Name)
			cancel()
			if err != nil {
				log.Warn().Err(err).Msg("reading the feed's marker failed")
				if retry.Sleep(ctx, r.cfg.Clock, bo.Next()) != nil {
					return
				}
				continue
			}
			loaded = true
			r.setMarker(f.Name, st.Marker)
		}
		start := r.cfg.Clock.Now()
		res := r.poll(ctx, f, op, &st, &rev)
		if ctx.Err() != nil && res.err != nil {
			return // stopped, or the lease lost, mid-poll: the marker stays
		}
		r.met.polls.WithLabelValues(f.Name, res.outcome).Inc()
		r.met.rows.WithLabelValues(f.Name).Add(float64(res.rows))
		next := start.Add(time.Duration(f.Interval))
		switch res.outcome {
		case "success":
			bo.Reset()
			r.setMarker(f.Name, st.Marker)
			r.met.calls.WithLabelValues(f.Name).Inc()
			r.countMirror(ctx)
			log.Debug().Int("rows", res.rows).Int("events", res.events).Time("marker", st.Marker).Msg("poll")
		case "no_grant", "out_of_limit":
			if res.outcome == "out_of_limit" {
				r.met.calls.WithLabelValues(f.Name).Inc()
			}
			next = res.retryAt
		default:
			r.met.calls.WithLabelValues(f.Name).Inc()
			// The marker did not move; what the poll stored, it finds in
			// the mirror next time. The stored state may have moved on
			// (another replica), so it is read again.
			loaded = false
			next = r.cfg.Clock.Now().Add(bo.Next())
			log.Warn().Err(res.err).Str("outcome", res.outcome).Time("retry_at", next).Msg("poll failed")
		}
		if retry.Sleep(ctx, r.cfg.Clock, next.Sub(r.cfg.Clock.Now())) != nil {
			return
		}
	}
}

// countMirror sets the mirror's object count from its bucket.
func (r *Runner) countMirror(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	if st, err := r.st.mirror.Status(sctx); err == nil {
		r.met.mirrored.Set(float64(st.Values()))
	}
}

func (r *Runner) setMarker(feed string, m time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.markers[feed] = m
}

// lag returns every feed's lag: now less its marker (since the start of
// the process for a feed without one).
func (r *Runner) lag(now time.Time) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64, len(r.markers))
	for f, m := range r.markers {
		if m.IsZero() {
			continue
		}
		out[f] = now.Sub(m).Seconds()
	}
	return out
}

// Ready reports whether the feeds' stream and buckets are set up.
func (r *Runner) Ready() error {
	if len(r.cfg.Feeds) > 0 && !r.ready.Load() {
		return errors.New("feed: the change stream and the mirror are not set up yet")
	}
	return nil
}
