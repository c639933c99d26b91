// Package daemon assembles the worker process from its settings and runs
// it: the NATS connection (or an embedded JetStream server when no URL is
// given), the API client, the quota limiter, the worker, the change feeds
// and the history exports (when any is configured), and the HTTP
// endpoints for probes and metrics; and it holds the tools that read what
// the process keeps in JetStream (the quota ledger, the feeds' markers,
// the mirror, the exports' markers) and the one that reads a period of
// history again on request (export rerun).
//
// Invariants: secrets (the API password, NATS credentials) are read from
// the settings or files and never logged. Run claims its HTTP address
// before it starts anything, so that an address in use fails at once;
// once its parts run (the worker, the HTTP server, the watch on the NATS
// connection), the end of any one stops the others, and Run returns only
// after every goroutine it started has returned and every resource it
// opened is closed. Every wait for a dependency (NATS, the quota bucket)
// is a retry.Do that ends with Run's context. Settings no retry can fix
// (quota limits, feeds on reads that take no ChangedFrom, exports of
// reads that take no period) are refused before anything is contacted.
// The worker, the feeds and the exports take their calls from one
// limiter, and their series are on one registry; the process is ready
// only when each of them is.
package daemon

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/clock"
	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/retry"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Config is everything the worker process is set up from.
type Config struct {
	// NATS is how to reach NATS. An empty NATS.Server starts an embedded
	// JetStream server on EmbeddedListen with its files in EmbeddedDir.
	NATS           natsconn.ConnFlags
	EmbeddedListen string // defaults to 127.0.0.1:4222
	EmbeddedDir    string // defaults to ./data

	// ConnectURL is the API endpoint; ConnectUser and ConnectPassword its
	// credentials (or ConnectPasswordFile, read at start).
	ConnectURL          string
	ConnectUser         string
	ConnectPassword     string
	ConnectPasswordFile string
	// ConnectCA is a PEM file of CAs to trust for the API's TLS, beside
	// the system's.
	ConnectCA string
	// SOAP12 speaks SOAP 1.2 instead of 1.1.
	SOAP12 bool

	// HTTPListen serves /healthz, /readyz and /metrics. Defaults to
	// 127.0.0.1:8081; "off" serves nothing.
	HTTPListen string

	// Worker holds the worker's own settings (Conn, API, Limiter, Logger
	// and Metrics are filled in here).
	Worker worker.Config

	// Quota: the windows and limits of the API's hourly quota.
	Quota QuotaConfig

	// Feeds are the change feeds run beside the worker; none by default.
	Feeds FeedsConfig

	// Exports are the history exports run beside the worker; none by
	// default.
	Exports ExportsConfig

	// Files is the bucket of large payloads (package files).
	Files FilesConfig

	Logger zerolog.Logger
}

// QuotaConfig sets the limiter up.
type QuotaConfig struct {
	Windows quota.Windows
	// Limits overrides the catalogue's limits: calls per window by
	// operation, "*" for all (read with tariff.ParseLimits).
	Limits map[string]int
	// Reserve and AccountCap: see quota.Limits.
	Reserve    float64
	AccountCap int
	// Local keeps the ledger in this process instead of sharing it
	// through JetStream (a single replica, or tests).
	Local bool
}

// limiterConfig is the quota's configuration: the catalogue's limits
// under the overrides. The one place the daemon builds them, for Run and
// PrintQuota alike.
func (c QuotaConfig) limiterConfig() quota.Config {
	return quota.Config{Windows: c.Windows, Limits: quota.Limits{
		Catalogue:  catalog.HourlyLimits,
		Override:   c.Limits,
		Reserve:    c.Reserve,
		AccountCap: c.AccountCap,
	}}
}

// waitPolicy is how the daemon waits for a dependency that is not there
// yet (NATS, the quota bucket): from 250ms, doubling, up to 5s, jittered,
// until Run's context ends; each failure is logged as a warning naming
// what.
func waitPolicy(log zerolog.Logger, what string) retry.Policy {
	return retry.Policy{
		Initial: 250 * time.Millisecond,
		Max:     5 * time.Second,
		OnRetry: func(err error, attempt int, wait time.Duration) {
			log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg(what + " failed")
		},
	}
}

// Run runs the worker process until ctx ends. It listens on the HTTP
// address first, so that an address in use fails before anything is
// started; then it starts NATS (or connects to it), the API client, the
// quota and the worker; then it runs the worker, the HTTP server and the
// watch on the NATS connection until ctx ends or one of them stops, and
// stops the others (see the package comment).
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	password, err := connectPassword(cfg)
	if err != nil {
		return err
	}
	if cfg.ConnectURL == "" {
		return errors.New("daemon: the API endpoint (--connect-url) is required")
	}
	qcfg := cfg.Quota.limiterConfig()
	if err := qcfg.Validate(); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := cfg.Feeds.validate(); err != nil {
		return err
	}
	if err := cfg.Exports.validate(cfg); err != nil {
		return err
	}

	// The HTTP address first: claiming it is what most often fails (a
	// second worker on the same host), and nothing is started yet.
	ln, err := listenHTTP(cfg.HTTPListen)
	if err != nil {
		return err
	}
	if ln != nil {
		// In case Run fails before serving; closing twice is harmless.
		defer func() { _ = ln.Close() }()
	}

	// NATS: a server given, or one of our own.
	natsURL := cfg.NATS.Server
	if natsURL == "" {
		dir := cmp.Or(cfg.EmbeddedDir, "data")
		srv, err := startEmbedded(cfg.EmbeddedListen, dir)
		if err != nil {
			return err
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		natsURL = srv.ClientURL()
		log.Info().Str("url", natsURL).Str("dir", dir).Msg("embedded NATS JetStream server started")
	}
	flags := cfg.NATS
	flags.Server = natsURL
	flags.Name = "connect-worker"
	// closed is closed when the connection is closed for good (the server
	// refusing the client, a protocol error): then the process exits with
	// an error, so that the orchestrator restarts it, instead of living on
	// without NATS.
	closed := make(chan struct{})
	extra := []nats.Option{
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().AnErr("reason", err).Msg("NATS disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("NATS reconnected")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	}
	nc, err := connectRetry(ctx, flags, extra, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	// The API.
	client, err := apiClient(cfg, password)
	if err != nil {
		return err
	}
	defer client.Close()

	limiter, err := newLimiter(ctx, nc, cfg, qcfg)
	if err != nil {
		return err
	}

	reg := cfg.Worker.Metrics
	if reg == nil {
		// The process's own series (heap, goroutines, GC, open files,
		// RSS) beside the worker's: what one watches first on a worker
		// with a memory limit.
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	store, err := openFiles(ctx, nc, cfg)
	if err != nil {
		return err
	}
	wcfg := cfg.Worker
	wcfg.Conn, wcfg.API, wcfg.Limiter, wcfg.Logger, wcfg.Metrics, wcfg.Files = nc, client, limiter, log, reg, store
	w, err := worker.New(wcfg)
	if err != nil {
		return err
	}
	// The feeds and the exports read with the same client: each of their
	// calls carries its own response cap (FeedsConfig.MaxResponseBytes,
	// ExportsConfig.MaxResponseBytes).
	var feeds *feed.Runner
	if len(cfg.Feeds.Feeds) > 0 {
		fcfg := cfg.Feeds.config(cfg, nc, client, limiter, reg, log)
		fcfg.Tracer = cfg.Worker.Tracer
		if feeds, err = feed.New(fcfg); err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
	}
	var exports *export.Runner
	if len(cfg.Exports.Exports) > 0 {
		ecfg := cfg.Exports.config(cfg, nc, client, limiter, reg, log)
		ecfg.Files, ecfg.Tracer = store, cfg.Worker.Tracer
		if exports, err = export.New(ecfg); err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
	}
	log.Info().Str("api", cfg.ConnectURL).Str("api_user", cfg.ConnectUser).Str("nats", nc.ConnectedUrlRedacted()).Msg("connecting the worker")

	// The parts. Each one's end, with an error or without, stops the
	// others: none runs on alone (an HTTP server without a worker, a
	// worker whose probes are gone).
	var g errgroup.Group
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	part := func(run func(ctx context.Context) error) {
		g.Go(func() error {
			defer stop()
			return run(gctx)
		})
	}
	part(w.Run)
	ready := []readiness{}
	if feeds != nil {
		part(feeds.Run)
		ready = append(ready, feeds)
	}
	if exports != nil {
		part(exports.Run)
		ready = append(ready, exports)
	}
	part(func(ctx context.Context) error {
		select {
		case <-closed:
			err := nc.LastError()
			if err == nil {
				err = errors.New("closed")
			}
			return fmt.Errorf("daemon: the NATS connection was closed for good: %w", err)
		case <-ctx.Done():
			return nil
		}
	})
	if ln != nil {
		log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
		part(func(ctx context.Context) error { return serveHTTP(ctx, ln, handler(w, reg, ready...)) })
	}
	return g.Wait()
}

// listenHTTP claims the address of the HTTP endpoints: "" for the
// default 127.0.0.1:8081, "off" for none (a nil listener).
func listenHTTP(addr string) (net.Listener, error) {
	if addr == "off" {
		return nil, nil
	}
	addr = cmp.Or(addr, "127.0.0.1:8081")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("daemon: HTTP listen %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on ln until ctx ends, then shuts the server down
// within 5s; it returns once the server has stopped.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("daemon: HTTP: %w", err) // never ErrServerClosed: only Shutdown below gives that
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("daemon: HTTP shutdown: %w", err), hs.Close())
	}
	<-served // Serve returns as soon as Shutdown closes the listener
	return err
}

// newLimiter returns the shared limiter (the ledger in a JetStream bucket),
// or a local one when asked. Creating the bucket is retried until it
// works or ctx ends: on a cluster it may take a moment to elect a leader.
func newLimiter(ctx context.Context, nc *nats.Conn, cfg Config, qcfg quota.Config) (limiter, error) {
	if cfg.Quota.Local {
		return quota.NewLocal(qcfg)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var q *quota.Shared
	err = retry.Do(ctx, clock.Real{}, waitPolicy(cfg.Logger, "opening the quota bucket"), func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		q, err = quota.NewShared(sctx, quota.SharedConfig{Config: qcfg, JetStream: js, Replicas: cfg.Worker.Replicas})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: quota bucket: %w", err)
	}
	return q, nil
}

// FilesConfig sets up the bucket of large payloads. Zero fields take
// package files' defaults.
type FilesConfig struct {
	// Bucket is the Object Store bucket. Defaults to CONNECT_FILES.
	Bucket string
	// MaxObjectBytes is the largest object a command may reference and a
	// result may store. Defaults to 256 MiB.
	MaxObjectBytes int64
	// MaxBytes caps the bucket; 0: no cap.
	MaxBytes int64
	// Off: no bucket; references in commands are refused and results too
	// large for a message are RESULT_TOO_LARGE.
	Off bool
}

// openFiles opens the files bucket, retried until it works or ctx ends,
// like the quota bucket; nil when switched off.
func openFiles(ctx context.Context, nc *nats.Conn, cfg Config) (*files.Store, error) {
	if cfg.Files.Off {
		return nil, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var store *files.Store
	err = retry.Do(ctx, clock.Real{}, waitPolicy(cfg.Logger, "opening the files bucket"), func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		store, err = files.Open(sctx, files.Config{JetStream: js, Bucket: cfg.Files.Bucket, Replicas: cfg.Worker.Replicas,
			MaxObjectBytes: cfg.Files.MaxObjectBytes, MaxBytes: cfg.Files.MaxBytes})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: files bucket: %w", err)
	}
	return store, nil
}

// apiClient is the client of the API endpoint of cfg, with password: its
// TLS (the extra CAs) and SOAP version. The caller closes it.
func apiClient(cfg Config, password string) (*soap.Client, error) {
	var tlsCfg *tls.Config
	if cfg.ConnectCA != "" {
		var err error
		if tlsCfg, err = caConfig(cfg.ConnectCA); err != nil {
			return nil, err
		}
	}
	version := soap.SOAP11
	if cfg.SOAP12 {
		version = soap.SOAP12
	}
	client, err := soap.New(soap.Config{URL: cfg.ConnectURL, User: cfg.ConnectUser, Password: password, Version: version, TLS: tlsCfg})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return client, nil
}

func connectPassword(cfg Config) (string, error) {
	if cfg.ConnectPasswordFile == "" {
		return cfg.ConnectPassword, nil
	}
	if cfg.ConnectPassword != "" {
		return "", errors.New("daemon: give the API password or a password file, not both")
	}
	b, err := os.ReadFile(cfg.ConnectPasswordFile)
	if err != nil {
		// The path is not secret; the content is never shown.
		return "", fmt.Errorf("daemon: API password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func caConfig(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("daemon: API CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("daemon: API CA file %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func startEmbedded(listen, dir string) (*server.Server, error) {
	host, port := "127.0.0.1", 4222
	if listen != "" {
		h, p, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("daemon: embedded NATS listen address %q: %w", listen, err)
		}
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
			return nil, fmt.Errorf("daemon: embedded NATS port %q", p)
		}
		host = h
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("daemon: embedded NATS data folder: %w", err)
	}
	return embednats.Start(embednats.Config{Host: host, Port: port, StoreDir: abs})
}

// connectRetry connects to NATS, trying again until ctx ends: on
// Kubernetes the worker may start before NATS is reachable. Settings that
// cannot work are not tried again. It goes through natsconn, whose errors
// never quote a secret.
func connectRetry(ctx context.Context, flags natsconn.ConnFlags, extra []nats.Option, log zerolog.Logger) (*nats.Conn, error) {
	var nc *nats.Conn
	err := retry.Do(ctx, clock.Real{}, waitPolicy(log, "connecting to NATS"), func(context.Context) error {
		var err error
		nc, err = natsconn.Connect(flags, extra...)
		var bad *natsconn.SettingsError
		if errors.As(err, &bad) {
			return retry.Permanent(err) // trying again cannot help
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: NATS: %w", err)
	}
	return nc, nil
}
