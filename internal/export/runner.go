package export

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
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/lease"
	"github.com/onec-connect/connect-bridge/internal/retry"
)

// Runner runs the exports of one process: for each, it waits for the
// export's lease, then walks its history while it holds the lease.
type Runner struct {
	cfg  Config
	js   jetstream.JetStream
	st   *store
	log  zerolog.Logger
	met  *exportMetrics
	jobs []*job
	// tracer records the reads' spans.
	tracer trace.Tracer

	// The stream's and buckets' setup is shared by Run and Rerun, and
	// made once.
	setupMu sync.Mutex // protects setupOK
	setupOK bool
	ready   atomic.Bool

	mu      sync.Mutex // protects markers
	markers map[string]time.Time
}

// New checks cfg and prepares the exports; nothing is contacted until Run
// or Rerun.
func New(cfg Config) (*Runner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstreamFor(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	r := &Runner{
		cfg: cfg, js: js,
		st:      &store{js: js, n: cfg.Names},
		log:     cfg.Logger.With().Str("component", "export").Logger(),
		markers: map[string]time.Time{},
	}
	for _, x := range cfg.Exports {
		j := newJob(x)
		if j.p.Archive && cfg.Files == nil {
			return nil, fmt.Errorf("export: %s: %s answers a ZIP of files, which is exported into the files bucket, and there is none (Config.Files)", x.Name, x.Op)
		}
		r.jobs = append(r.jobs, j)
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	r.tracer = tp.Tracer("github.com/onec-connect/connect-bridge/internal/export")
	if r.met, err = newExportMetrics(cfg.Metrics, r); err != nil {
		return nil, err
	}
	return r, nil
}

// newJob is the job of a validated export, defaults applied.
func newJob(x Export) *job {
	op, p, _ := catalog.LookupPeriodRead(x.Op)
	return &job{Export: x, op: op, p: p, idCol: x.idColumn(p)}
}

// setup sets the stream and buckets up, once per Runner, retrying until
// it works or ctx ends.
func (r *Runner) setup(ctx context.Context) error {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	if r.setupOK {
		return nil
	}
	err := retry.Do(ctx, r.cfg.Clock, retry.Policy{
		Initial: 250 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(err error, _ int, wait time.Duration) {
			r.log.Warn().Err(err).Dur("retry_in", wait).Msg("setting up the history stream and the export buckets failed")
		},
	}, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 2*natsTimeout)
		defer cancel()
		return r.st.setup(sctx, r.cfg)
	})
	if err != nil {
		return fmt.Errorf("export: setup: %w", err)
	}
	r.setupOK = true
	r.ready.Store(true)
	return nil
}

// Run sets the stream and buckets up, then runs every export until ctx
// ends. It returns nil after a clean stop.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.jobs) == 0 {
		return nil
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	holder, err := lease.New(lease.Config{KV: r.st.leases, TTL: r.cfg.LeaseTTL, Clock: r.cfg.Clock, Logger: r.log})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var wg sync.WaitGroup
	for _, j := range r.jobs {
		wg.Go(func() {
			holder.Run(ctx, j.Name, func(ctx context.Context) {
				log := r.log.With().Str("export", j.Name).Logger()
				log.Info().Msg("exporting")
				r.walk(ctx, j, log)
			})
		})
	}
	wg.Wait()
	return nil
}

// Ready reports whether the exports' stream and buckets are set up.
func (r *Runner) Ready() error {
	if len(r.jobs) > 0 && !r.ready.Load() {
		return errors.New("export: the history stream and the export buckets are not set up yet")
	}
	return nil
}

// progress is an export's walk while this process holds it: its stored
// state and revision, and the lengths its chunks ask for.
type progress struct {
	st  State
	rev uint64
	sp  spans
	// lastTail is when the last read of the newest part started that
	// was stored (walk.lastTail).
	lastTail time.Time
	// calls counts the calls made since the state was last stored.
	calls int64
}

// walk reads j's history chunk by chunk while ctx lasts (this process
// holds the lease): the decisions are walk.next's, the halving spans'.
func (r *Runner) walk(ctx context.Context, j *job, log zerolog.Logger) {
	c := r.cfg
	pr, ok := r.load(ctx, j, log)
	if !ok {
		return
	}
	bo, _ := retry.NewBackoff(retry.Policy{Initial: time.Second, Max: time.Minute})
	for ctx.Err() == nil {
		now := c.Clock.Now()
		d := walk{marker: pr.st.Marker, span: pr.sp.cur, chunk: time.Duration(j.Chunk), interval: time.Duration(j.Interval),
			settle: time.Duration(j.Settle), lastTail: pr.lastTail, nightOnly: j.NightBackfill && c.Night.IsSet(),
			night: c.Night, loc: c.Location}.next(now)
		if !d.read {
			if retry.Sleep(ctx, c.Clock, d.at.Sub(now)) != nil {
				return
			}
			continue
		}
		start := c.Clock.Now()
		res := r.read(ctx, j, d.from, d.to)
		if ctx.Err() != nil && res.err != nil {
			return // stopped, or the lease lost, mid-read: the marker stays
		}
		r.met.reads.WithLabelValues(j.Name, res.outcome).Inc()
		r.met.rows.WithLabelValues(j.Name).Add(float64(res.rows))
		r.met.published.WithLabelValues(j.Name).Add(float64(res.published))
		r.met.duplicates.WithLabelValues(j.Name).Add(float64(res.duplicates))
		if res.called {
			r.met.calls.WithLabelValues(j.Name).Inc()
			pr.calls++
		}
		length := d.to.Sub(d.from)
		wait := time.Duration(0)
		switch res.outcome {
		case outSuccess:
			bo.Reset()
			pr.sp.fitted(length, res.bytes, c.MaxResponseBytes)
			if !r.stored(ctx, j, &pr, d.to, start, res, log) {
				wait = bo.Next()
			} else if !d.backfill {
				pr.lastTail = start
			}
		case outNoGrant, outOutOfLimit:
			wait = res.retryAt.Sub(c.Clock.Now())
		case outTooLarge, outRefused:
			if h, ok := pr.sp.halve(length, res.outcome == outRefused); ok {
				r.met.halvings.WithLabelValues(j.Name, res.outcome).Inc()
				log.Info().Str("reason", res.outcome).Dur("from", length).Dur("to", h).Time("chunk_from", d.from.In(c.Location)).
					Msg("halving the chunk")
				continue
			}
			wait = r.failed(ctx, j, &pr, d, res, log)
		case outFailed:
			wait = r.failed(ctx, j, &pr, d, res, log)
		default:
			// The API or NATS failing: the chunk is read again; what was
			// stored of it the stream drops as duplicates. The stored
			// state may have moved on (another replica), so it is read
			// again.
			wait = bo.Next()
			log.Warn().Err(res.err).Str("outcome", res.outcome).Dur("retry_in", wait).Msg("reading a chunk failed")
			if res.outcome == outStoreError {
				if pr, ok = r.load(ctx, j, log); !ok {
					return
				}
			}
		}
		if wait > 0 && retry.Sleep(ctx, c.Clock, wait) != nil {
			return
		}
	}
}

// load reads j's stored state, retrying until it works or ctx ends. An
// export never run starts at its Since, or, without one, at the horizon
// (stored at once, so that a restart does not move the start).
func (r *Runner) load(ctx context.Context, j *job, log zerolog.Logger) (progress, bool) {
	bo, _ := retry.NewBackoff(retry.Policy{Initial: time.Second, Max: time.Minute})
	for {
		lctx, cancel := context.WithTimeout(ctx, natsTimeout)
		st, rev, err := r.st.state(lctx, j.Name)
		if err == nil && st.Marker.IsZero() {
			st.Marker = j.Since.Truncate(time.Second)
			if j.Since.IsZero() {
				st.Marker = horizon(r.cfg.Clock.Now(), time.Duration(j.Settle))
			}
			rev, err = r.st.saveState(lctx, j.Name, st, rev)
		}
		cancel()
		if err == nil {
			r.setMarker(j.Name, st.Marker)
			return progress{st: st, rev: rev, sp: newSpans(time.Duration(j.Chunk), r.cfg.MinChunk)}, true
		}
		if ctx.Err() != nil {
			return progress{}, false
		}
		log.Warn().Err(err).Msg("reading the export's marker failed")
		if retry.Sleep(ctx, r.cfg.Clock, bo.Next()) != nil {
			return progress{}, false
		}
	}
}

// stored moves j's marker to to, once every row of the chunk is stored,
// and reports whether the state was written.
func (r *Runner) stored(ctx context.Context, j *job, pr *progress, to, start time.Time, res readResult, log zerolog.Logger) bool {
	next := pr.st
	next.Marker, next.LastRead = to, start
	next.Chunks++
	next.Calls += pr.calls
	next.Rows += int64(res.rows)
	next.Published += int64(res.published)
	next.Failed, next.FailedAt = "", time.Time{}
	sctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	rev, err := r.st.saveState(sctx, j.Name, next, pr.rev)
	if err != nil {
		// The rows are stored: the chunk is read again, and the stream
		// drops them as duplicates.
		log.Warn().Err(err).Msg("storing the export's marker failed")
		if fresh, ok := r.load(ctx, j, log); ok {
			fresh.sp, fresh.lastTail = pr.sp, pr.lastTail
			*pr = fresh
		}
		return false
	}
	pr.st, pr.rev, pr.calls = next, rev, 0
	r.setMarker(j.Name, to)
	log.Debug().Time("marker", to).Int("rows", res.rows).Int("published", res.published).Msg("chunk stored")
	return true
}

// failed records that the chunk d cannot be read (at the minimum chunk,
// or never): logged for someone to act, stored in the state, and the
// export waits an interval before it tries again.
func (r *Runner) failed(ctx context.Context, j *job, pr *progress, d decision, res readResult, log zerolog.Logger) time.Duration {
	r.met.failures.WithLabelValues(j.Name).Inc()
	interval := time.Duration(j.Interval)
	log.Error().Err(res.err).Str("outcome", res.outcome).Time("chunk_from", d.from.In(r.cfg.Location)).
		Time("chunk_to", d.to.In(r.cfg.Location)).Dur("min_chunk", r.cfg.MinChunk).Dur("retry_in", interval).
		Msg("a chunk of the export cannot be read, the export waits an interval: " + remedy(res))
	next := pr.st
	next.Failed, next.FailedAt = res.err.Error(), r.cfg.Clock.Now()
	sctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	if rev, err := r.st.saveState(sctx, j.Name, next, pr.rev); err == nil {
		pr.st, pr.rev = next, rev
	}
	return interval
}

// remedy says what someone can do about a chunk that failed with res.
func remedy(res readResult) string {
	switch {
	case res.outcome == outTooLarge:
		return "its answer is larger than MaxResponseBytes even for the minimum chunk: raise MaxResponseBytes"
	case res.outcome == outRefused:
		return "the service refuses the read even for the minimum chunk: check the filters and the service's reason"
	case errors.Is(res.err, errRowTooLarge):
		return "a row is larger than a NATS message: raise the server's max_payload"
	}
	return "check the error: reading the chunk again cannot help"
}

func (r *Runner) setMarker(name string, m time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.markers[name] = m
}

// lag returns every export's lag: now less its marker.
func (r *Runner) lag(now time.Time) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64, len(r.markers))
	for name, m := range r.markers {
		out[name] = now.Sub(m).Seconds()
	}
	return out
}
