package connect_test

import (
	"context"
	"go.opentelemetry.io/otel/trace"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/files"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// bundle is a real worker on an embedded JetStream server and the
// sandbox, with the test's own connection to the server.
type bundle struct {
	srv *server.Server
	emu *emulator.Server
	nc  *nats.Conn // the test's connection, straight to the server
	js  jetstream.JetStream
	// gate, when the bundle was made with one, holds the sandbox's first
	// call until released.
	gate *gate
}

type setupOpts struct {
	gate bool
	// tracer, when set, is the worker's.
	tracer trace.TracerProvider
	// files, when set, gives the worker the files bucket.
	files bool
}

// setup starts the server, the sandbox (limits off) and a worker whose
// packets wait 50ms to fill, and stops them when the test ends.
func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b := &bundle{srv: natstest.Server(t)}
	emu, err := emulator.New(emulator.Config{Seed: 1, Limits: map[string]int{"*": 1 << 30}})
	require.NoError(t, err)
	b.emu = emu
	var h http.Handler = emu
	if o.gate {
		b.gate = newGate()
		h = b.gate.wrap(emu)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1 << 30}},
	})
	require.NoError(t, err)
	wnc, wjs := natstest.Connect(t, b.srv.ClientURL())
	var store *files.Store
	if o.files {
		store, err = files.Open(ctx, files.Config{JetStream: wjs})
		require.NoError(t, err)
	}
	w, err := worker.New(worker.Config{
		Conn: wnc, API: api, Limiter: lim,
		Defaults:  worker.OpSettings{MaxWait: worker.Duration(50 * time.Millisecond)},
		FetchWait: 200 * time.Millisecond,
		Tracer:    o.tracer,
		Files:     store,
	})
	require.NoError(t, err)
	wctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	t.Cleanup(func() {
		if b.gate != nil {
			b.gate.open()
		}
		stop()
		require.NoError(t, <-stopped)
	})
	for w.Ready() != nil {
		select {
		case <-ctx.Done():
			t.Fatalf("worker not ready: %v", w.Ready())
		case <-time.After(10 * time.Millisecond): // polling readiness: nothing to wait on
		}
	}
	b.nc, b.js = natstest.Connect(t, b.srv.ClientURL())
	return b
}

// client makes an SDK client on a connection of its own to url (the
// server's when empty), closed when the test ends.
func (b *bundle) client(t *testing.T, url string, opts ...connect.Option) *connect.Client {
	t.Helper()
	if url == "" {
		url = b.srv.ClientURL()
	}
	nc, _ := natstest.Connect(t, url, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1), nats.ReconnectJitter(0, 0))
	c, err := connect.New(nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// outcomeFinal waits until the outcome bucket holds op/id's final result.
func (b *bundle) outcomeFinal(t *testing.T, ctx context.Context, op, id string) contract.Result {
	t.Helper()
	kv, err := b.js.KeyValue(ctx, contract.OutcomeBucket)
	require.NoError(t, err)
	w, err := kv.Watch(ctx, contract.OutcomeKey(op, id))
	require.NoError(t, err)
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				continue // the end of the initial values
			}
			o, err := contract.DecodeOutcome(e.Value())
			require.NoError(t, err)
			if o.State == contract.StateFinal {
				return *o.Result
			}
		case <-ctx.Done():
			t.Fatalf("no final outcome of %s %s", op, id)
		}
	}
}

// gate holds the first request to the handler it wraps until opened.
type gate struct {
	once    sync.Once
	entered chan struct{} // closed when the first request arrived
	release chan struct{}
	opened  sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		g.once.Do(func() { first = true })
		if first {
			close(g.entered)
			<-g.release
		}
		h.ServeHTTP(w, r)
	})
}

func (g *gate) open() { g.opened.Do(func() { close(g.release) }) }

// proxy is a TCP proxy in front of the NATS server, so that a test can
// cut the client's connection, keep it from coming back, or let it send
// while nothing comes back to it.
type proxy struct {
	t      *testing.T
	l      net.Listener
	target string

	mu    sync.Mutex // protects conns, mode
	conns []net.Conn
	mode  proxyMode
	wg    sync.WaitGroup
}

type proxyMode int

const (
	forward   proxyMode = iota // both ways
	refuse                     // connections are closed as they come
	blackhole                  // the client's bytes reach the server; none come back
)

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, l: l, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = l.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) url() string { return "nats://" + p.l.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		if mode == refuse {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(s, c, false) })
		p.wg.Go(func() { p.pipe(c, s, true) })
	}
}

// pipe copies src to dst; toClient bytes are dropped while the proxy is
// a black hole.
func (p *proxy) pipe(dst, src net.Conn, toClient bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := toClient && p.mode == blackhole
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return // EOF or a cut connection: close both ends
		}
	}
}

// set changes the mode; cut closes every connection made so far.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
}

func (p *proxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// wait waits on ch until the test's deadline.
func wait[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
