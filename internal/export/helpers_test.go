package export_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LeakOptions()...) }

// msk is the account's zone, the same for the sandbox and the exports.
var msk = time.FixedZone("MSK", 3*60*60)

const (
	day   = 24 * time.Hour
	calls = "GetHistoryOfServiceCalls"
	// limit is the calls a window of the sandbox and of the ledger allow
	// every history read in these tests; windows are a second long.
	limit = 10
)

// world is one test's JetStream server, sandbox (over real HTTP) and
// quota ledger, with windows of a second.
type world struct {
	t   *testing.T
	url string
	js  jetstream.JetStream
	emu *emulator.Server
	api *soap.Client
	lim *quota.Local
	// gate, when set, holds the answer of one call half-way.
	gate *gate
}

// newWorld starts a world whose sandbox has cfg (a year of history by
// default, seed 1, windows of a second and limit calls in each).
func newWorld(t *testing.T, cfg emulator.Config) *world {
	t.Helper()
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	if cfg.SeedHistory == 0 {
		cfg.SeedHistory = 366
	}
	cfg.Seed = 1
	cfg.Location = msk
	cfg.Window = time.Second
	cfg.Limits = map[string]int{"*": 100000, calls: limit, "GetHistoryOfSIPCalls": limit}
	emu, err := emulator.New(cfg)
	require.NoError(t, err)
	w := &world{t: t, url: srv.ClientURL(), js: js, emu: emu}
	w.gate = &gate{h: emu, held: make(chan struct{}), release: make(chan struct{})}
	hs := httptest.NewServer(w.gate)
	t.Cleanup(hs.Close)
	t.Cleanup(w.gate.open)
	w.api, err = soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(w.api.Close)
	w.lim, err = quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Second, Guard: 100 * time.Millisecond, Location: msk},
		Limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1,
			Override: map[string]int{"*": 100000, calls: limit, "GetHistoryOfSIPCalls": limit}},
	})
	require.NoError(t, err)
	return w
}

// config is the exports' Config of the world: its API, ledger and zone.
func (w *world) config(nc *nats.Conn, exports ...export.Export) export.Config {
	return export.Config{
		Exports: exports, Conn: nc, API: w.api, Limiter: w.lim, Location: msk,
		LeaseTTL: 2 * time.Second, Batch: 8,
		Logger:  zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.WarnLevel),
		Metrics: prometheus.NewRegistry(),
	}
}

// runner is a Runner of the world's exports on a connection of its own.
type runner struct {
	*export.Runner
	reg  *prometheus.Registry
	stop func()
}

// run starts a runner of exports, its config adjusted by tune; stop ends
// it and waits.
func (w *world) run(exports []export.Export, tune func(*export.Config)) *runner {
	w.t.Helper()
	nc, _ := natstest.Connect(w.t, w.url)
	cfg := w.config(nc, exports...)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	if tune != nil {
		tune(&cfg)
	}
	r, err := export.New(cfg)
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(w.t, err)
			case <-time.After(30 * time.Second):
				w.t.Fatal("the exports did not stop")
			}
		})
	}
	w.t.Cleanup(stop)
	return &runner{Runner: r, reg: reg, stop: stop}
}

// counter returns the sum of a counter's series whose labels include
// the given ones.
func (r *runner) counter(name string, labels ...string) float64 {
	mf, _ := r.reg.Gather()
	var sum float64
	for _, f := range mf {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// stored is one message of the history stream.
type stored struct {
	export.Row
	msgID, rowID string
}

// rows reads every message of the history stream, in order.
func (w *world) rows() []stored {
	w.t.Helper()
	ctx := context.Background()
	st, err := w.js.Stream(ctx, export.HistoryStream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	require.NoError(w.t, err)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(w.t, err)
	var out []stored
	for uint64(len(out)) < info.State.Msgs {
		// A batch no larger than what is left: Fetch returns once it is
		// full.
		batch, err := cons.Fetch(int(min(1000, info.State.Msgs-uint64(len(out)))), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(w.t, err)
		n := len(out)
		for m := range batch.Messages() {
			r, err := export.DecodeRow(m.Data())
			require.NoError(w.t, err)
			out = append(out, stored{Row: r, msgID: m.Headers().Get("Nats-Msg-Id"), rowID: m.Headers().Get(export.HeaderRowID)})
		}
		require.NoError(w.t, batch.Error())
		require.Greater(w.t, len(out), n, "the stream's messages come")
	}
	return out
}

// count returns the messages of the history stream.
func (w *world) count() uint64 {
	w.t.Helper()
	st, err := w.js.Stream(context.Background(), export.HistoryStream)
	if err != nil {
		return 0
	}
	info, err := st.Info(context.Background())
	require.NoError(w.t, err)
	return info.State.Msgs
}

// state reads an export's stored state.
func (w *world) state(name string) export.State {
	w.t.Helper()
	st, err := export.Status(context.Background(), w.js, export.StatusConfig{Exports: []export.Export{{Name: name}}}, time.Now())
	if err != nil {
		return export.State{}
	}
	return st[0].State
}

// waitMarker waits until the export's marker is at or after t.
func (w *world) waitMarker(name string, t time.Time, d time.Duration) export.State {
	w.t.Helper()
	var st export.State
	require.Eventually(w.t, func() bool {
		st = w.state(name)
		return !st.Marker.Before(t)
	}, d, 20*time.Millisecond, "the marker of %s reaches %s", name, t)
	return st
}

// exactlyOnce checks that the stream's rows hold every generated row of
// op that started in [from, to) exactly once, by its id column, and
// nothing else of that period; and that every row is in the period it
// was read in. It returns the rows of the period.
func (w *world) exactlyOnce(rows []stored, op, idCol string, from, to time.Time) int {
	w.t.Helper()
	want, err := w.emu.History(op, from, to)
	require.NoError(w.t, err)
	require.NotEmpty(w.t, want)
	got := map[string]int{}
	for _, r := range rows {
		if r.Op != op {
			continue
		}
		start, err := soap.ParseTime(r.Row.Row["Start"].(string), msk)
		require.NoError(w.t, err)
		if start.Before(r.Period.From) || !start.Before(r.Period.To) {
			require.Fail(w.t, "a row out of its period", "%s not in [%s, %s)", start, r.Period.From, r.Period.To)
		}
		if start.Before(from) || !start.Before(to) {
			continue
		}
		got[r.Row.Row[idCol].(string)]++
	}
	missing, twice := 0, 0
	for _, r := range want {
		switch got[r.Row[idCol].Text] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
		delete(got, r.Row[idCol].Text)
	}
	require.Zero(w.t, missing, "rows of %s missing", op)
	require.Zero(w.t, twice, "rows of %s published more than once", op)
	require.Empty(w.t, got, "rows of %s that were not generated", op)
	return len(want)
}

// gate passes requests to the sandbox; armed, it holds the answer of
// the n-th call of an operation half-way: it sends the first half of the
// body, then waits until the client goes away or the gate opens.
type gate struct {
	h       http.Handler
	armed   atomic.Bool
	op      string
	n       int32
	calls   atomic.Int32
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

// arm holds the n-th call of op from now on.
func (g *gate) arm(op string, n int) {
	g.op, g.n = op, int32(n)
	g.armed.Store(true)
}

// open lets the held answer go.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.armed.Load() {
		g.h.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.Contains(string(body), g.op) || g.calls.Add(1) != g.n {
		g.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	g.h.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	b := rec.Body.Bytes()
	_, _ = w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	close(g.held)
	select {
	case <-r.Context().Done():
	case <-g.release:
		_, _ = w.Write(b[len(b)/2:])
	}
}
