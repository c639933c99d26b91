package worker

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/retry"
)

// natsTimeout bounds one request to JetStream (a write's acknowledgement,
// a read of the outcome bucket). A request to a stream whose leader has
// just gone is not answered; it is made again once a leader is elected,
// which on a healthy cluster takes a few seconds.
const natsTimeout = 5 * time.Second

// maxSubjectBytes bounds a message's subject and reply subject together:
// the server's control line is 4 KiB.
const maxSubjectBytes = 4096

// Worker moves commands from JetStream to the API and results back. Create
// it with New and start it with Run.
type Worker struct {
	cfg       Config
	log       zerolog.Logger
	nc        *nats.Conn
	js        jetstream.JetStream
	kv        jetstream.KeyValue // set by setup
	kvStream  string             // the bucket's stream, set by setup
	cmdStream jetstream.Stream   // set by setup
	api       Caller
	limiter   Limiter
	clock     clock.Clock
	outcomes  outcomeStore // the outcome bucket, as the lanes use it
	lanes     map[string]*lane
	auth      authGate
	met       *workerMetrics
	tracer    trace.Tracer
	limits    catalog.FieldLimits // of every command's fields (objects.go)
	secrets   secrets
	replies   contract.ReplyPolicy
	bytes     *budget // the process's byte budget, parent of the lanes'
	// maxCost is what the largest message the server allows counts
	// against a budget: a lane fetches only while that much is free.
	maxCost int64

	setupDone atomic.Bool
	stopping  atomic.Bool
	quotaErr  atomic.Pointer[error] // the limiter's last error, nil when it answers
	bucketErr atomic.Pointer[error] // the outcome bucket's last error, nil when it answers
	finishErr atomic.Pointer[error] // the finishers' last error, nil when results are recorded
}

// New checks cfg and prepares a worker; nothing is contacted until Run.
func New(cfg Config) (*Worker, error) {
	if cfg.Conn == nil {
		return nil, errors.New("worker: Config.Conn is required")
	}
	w, err := build(cfg)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn, jetstream.WithPublishAsyncTimeout(natsTimeout), jetstream.WithDefaultTimeout(natsTimeout))
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w.nc, w.js = cfg.Conn, js
	return w, nil
}

// build makes the worker and its lanes from cfg, all but what talks to
// NATS (the lane tests give the lanes fakes of that instead).
func build(cfg Config) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "worker").Logger(),
		api:     cfg.API,
		limiter: cfg.Limiter,
		clock:   cfg.Clock,
		lanes:   map[string]*lane{},
	}
	w.outcomes = natsOutcomes{w}
	w.auth.retry = cfg.AuthRetry
	w.bytes = newBudget(cfg.ProcessBytes, nil)
	w.secrets = newSecrets(cfg.SecretFields)
	n := cfg.Names
	w.replies = contract.ReplyPolicy{
		Allow: cfg.ReplyAllow,
		// The worker's own subjects are never a reply subject: a result
		// published there would pose as a command, a result or a dead
		// letter. ('$' subjects — key-value, JetStream API, system — are
		// refused by the policy itself.)
		Deny: []string{n.CommandPrefix + ">", n.ResultPrefix + ">", n.DLQPrefix + ">"},
	}
	if err := w.replies.Validate(); err != nil {
		return nil, fmt.Errorf("worker: reply subjects allowed: %w", err)
	}
	for _, name := range cfg.Operations {
		op, _ := catalog.Lookup(name)
		set, err := cfg.settings(op)
		if err != nil {
			return nil, err
		}
		l, err := newLane(w, op, set)
		if err != nil {
			return nil, fmt.Errorf("worker: %s: %w", name, err)
		}
		w.lanes[name] = l
	}
	w.tracer = tracerOf(cfg.Tracer)
	w.limits = w.fieldLimits()
	if w.met, err = newWorkerMetrics(cfg.Metrics, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Run sets up the streams and consumers, serves every operation until ctx
// ends, then shuts down gracefully within Config.ShutdownTimeout: no more
// fetching, queued commands handed back, calls in flight finished and
// their results recorded, acknowledgements confirmed. It returns nil after
// a clean shutdown.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.setupWithRetry(ctx); err != nil {
		return err
	}
	// No command is larger than the command stream's max message size
	// (or the server's max payload, known once connected), with its
	// subject.
	largest := w.nc.MaxPayload()
	if m := int64(w.cfg.CommandLimits.MaxMsgSize); m > 0 && m < largest {
		largest = m
	}
	w.maxCost = costFactor*(largest+maxSubjectBytes) + costFixed
	if w.maxCost > w.cfg.LaneBytes {
		return fmt.Errorf("worker: the lane byte budget (%d bytes) cannot hold one command of the largest size (%d bytes, which counts %d): raise LaneBytes or lower the command stream's max message size",
			w.cfg.LaneBytes, largest, w.maxCost)
	}
	w.setupDone.Store(true)
	w.log.Info().Int("operations", len(w.lanes)).Msg("worker started")

	var wg sync.WaitGroup
	for _, l := range w.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx)
		}()
	}
	sw := &sweeper{w: w}
	wg.Add(2)
	go func() {
		defer wg.Done()
		sw.run(ctx)
	}()
	go func() {
		defer wg.Done()
		w.watchPoison(ctx)
	}()

	<-ctx.Done()
	w.stopping.Store(true)
	w.log.Info().Msg("shutting down")
	wg.Wait()
	// Let other replicas take over at once instead of after PinnedTTL.
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range w.lanes {
		if l.src != nil && !w.cfg.Unordered {
			_ = w.cmdStream.UnpinConsumer(uctx, w.cfg.Names.ConsumerPrefix+l.op.Name, w.cfg.Names.PriorityGroup)
		}
	}
	if err := w.nc.FlushWithContext(uctx); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		w.log.Warn().Err(err).Msg("flush at shutdown")
	}
	w.log.Info().Msg("worker stopped")
	return nil
}

// setupWithRetry runs setup until it succeeds: at start NATS may not be
// reachable yet (a JetStream cluster electing leaders, say).
func (w *Worker) setupWithRetry(ctx context.Context) error {
	err := retry.Do(ctx, w.clock, retry.Policy{
		Initial: 250 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(err error, _ int, wait time.Duration) {
			w.log.Warn().Err(err).Dur("retry_in", wait).Msg("setting up streams and consumers failed")
		},
	}, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 2*natsTimeout)
		defer cancel()
		return w.setup(sctx)
	})
	if err != nil {
		return fmt.Errorf("worker: setup: %w", err)
	}
	return nil
}

// Ready returns nil when the worker can do its work: streams set up, NATS
// connected, the API accepting the credentials, the quota answering.
func (w *Worker) Ready() error {
	switch {
	case w.stopping.Load():
		return errors.New("shutting down")
	case !w.setupDone.Load():
		return errors.New("streams and consumers not set up yet")
	case w.nc.Status() != nats.CONNECTED:
		return fmt.Errorf("NATS connection is %s", w.nc.Status())
	}
	if err := w.auth.err(); err != nil {
		return fmt.Errorf("the API refuses the credentials: %w", err)
	}
	if p := w.quotaErr.Load(); p != nil {
		return fmt.Errorf("quota unavailable: %w", *p)
	}
	if p := w.bucketErr.Load(); p != nil {
		return fmt.Errorf("outcome bucket unavailable: %w", *p)
	}
	if p := w.finishErr.Load(); p != nil {
		return fmt.Errorf("results cannot be recorded: %w", *p)
	}
	return nil
}

// finishState records whether a finisher could record its last batch.
func (w *Worker) finishState(err error) {
	if err == nil {
		if w.finishErr.Load() != nil {
			w.finishErr.Store(nil)
		}
		return
	}
	w.finishErr.Store(&err)
}

// outcomeState records whether the outcome bucket answered.
func (w *Worker) outcomeState(err error) {
	if err == nil {
		w.bucketErr.Store(nil)
		return
	}
	w.bucketErr.Store(&err)
}

// quotaState records whether the limiter answered.
func (w *Worker) quotaState(err error) {
	if err == nil {
		if w.quotaErr.Load() != nil {
			w.quotaErr.Store(nil)
			w.log.Info().Msg("quota available again")
		}
		return
	}
	if w.quotaErr.Swap(&err) == nil {
		w.log.Error().Err(err).Msg("quota unavailable: no calls are made until it answers")
	}
}

// Handler serves /healthz (the process is alive), /readyz (Ready) and
// /metrics (Prometheus text).
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		// A connection closed for good never comes back: the process must
		// be restarted.
		if w.nc.IsClosed() {
			http.Error(rw, "NATS connection closed for good", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := w.Ready(); err != nil {
			http.Error(rw, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.cfg.Metrics, promhttp.HandlerOpts{}))
	return mux
}

// kvSubject is the subject a key of the outcome bucket is written on.
func (w *Worker) kvSubject(key string) string {
	return "$KV." + w.cfg.Names.OutcomeBucket + "." + key
}
