package benchrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// op is the operation every line sends.
const op = "ClientUserEdit"

// unlimited is a limit no run reaches: "limits off".
const unlimited = 1_000_000_000

// env is one measurement's world: a fresh embedded JetStream server with
// its files in a temporary folder, the sandbox API served over loopback
// HTTP, and the producer's connection. Every line gets its own, so that
// no line inherits another's streams, consumers or sandbox counters.
type env struct {
	dir string
	srv *server.Server // nil when the broker is another process's
	url string         // the broker's client URL
	nc  *nats.Conn     // the producer's connection
	js  jetstream.JetStream
	emu *emulator.Server
	hs  *httptest.Server
	api string // the SOAP endpoint's URL
	rec *callLog

	// pubErrs counts asynchronous publishes the server refused.
	pubErrs atomic.Int64
}

func newEnv(ecfg emulator.Config) (*env, error) { return newEnvAt("", ecfg) }

// newEnvAt is newEnv with the broker at url, a server run by another
// process (line 12), or a fresh embedded one when url is empty.
func newEnvAt(url string, ecfg emulator.Config) (*env, error) {
	if ecfg.Seed == 0 {
		ecfg.Seed = 1
	}
	emu, err := emulator.New(ecfg)
	if err != nil {
		return nil, err
	}
	return newEnvOf(url, emu)
}

// newEnvWith is newEnv around a sandbox made already (line 15 sizes its
// history first).
func newEnvWith(emu *emulator.Server) (*env, error) { return newEnvOf("", emu) }

// newEnvOf is the world of a sandbox and the broker at url (a fresh
// embedded one when url is empty).
func newEnvOf(url string, emu *emulator.Server) (*env, error) {
	dir, err := os.MkdirTemp("", "connect-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, url: url}
	if url == "" {
		e.srv, err = embednats.Start(embednats.Config{Port: -1, StoreDir: dir})
		if err != nil {
			e.Close()
			return nil, err
		}
		e.url = e.srv.ClientURL()
	}
	e.nc, err = nats.Connect(e.url, nats.Name("bench-producer"))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.js, err = jetstream.New(e.nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { e.pubErrs.Add(1) }))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.emu = emu
	e.rec = &callLog{}
	e.hs = httptest.NewServer(e.rec.wrap(e.emu))
	e.api = e.hs.URL + emulator.Path
	return e, nil
}

// Close stops everything and removes the server's files.
func (e *env) Close() {
	if e.hs != nil {
		e.hs.CloseClientConnections()
		e.hs.Close()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	_ = os.RemoveAll(e.dir)
}

// callLog records when each SOAP call reached the sandbox, for counting
// calls per limit window.
type callLog struct {
	mu    sync.Mutex // protects times
	times []time.Time
}

func (c *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == emulator.Path {
			now := time.Now()
			c.mu.Lock()
			c.times = append(c.times, now)
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (c *callLog) snapshot() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.times...)
}

// createCommandStream creates the command stream as the worker does
// (setup.go), so that a backlog can be published before a worker runs.
func (e *env) createCommandStream(ctx context.Context) error {
	_, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       contract.CommandStream,
		Subjects:   []string{contract.CommandPrefix + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: 10 * time.Minute,
		Replicas:   1,
		Discard:    jetstream.DiscardOld,
	})
	return err
}

// commands builds n ClientUserEdit commands for the given users, JSON,
// with Nats-Msg-Id and the reply subject, as a producer sends them: the
// same messages for the broker ceiling and the worker.
func commands(prefix string, users []string, replyTo string) ([]*nats.Msg, error) {
	type fields struct {
		ClientUserID string
		Name         string
		Password     string
		Phone        string
		EMail        string
	}
	type command struct {
		ID     string `json:"id"`
		Fields fields `json:"fields"`
	}
	msgs := make([]*nats.Msg, len(users))
	for i, u := range users {
		id := prefix + strconv.Itoa(i)
		data, err := json.Marshal(command{ID: id, Fields: fields{
			ClientUserID: u,
			Name:         "Имя " + strconv.Itoa(i),
			Password:     "secret1",
			Phone:        fmt.Sprintf("+7 900 %03d-%02d-%02d", i/10000%1000, i/100%100, i%100),
			EMail:        "user" + strconv.Itoa(i) + "@example.com",
		}})
		if err != nil {
			return nil, err
		}
		m := nats.NewMsg(contract.CommandPrefix + op)
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, id)
		m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		if replyTo != "" {
			m.Header.Set(contract.HeaderReplyTo, replyTo)
		}
		msgs[i] = m
	}
	return msgs, nil
}

// edit is one ClientUserEdit command of the lines that vary the fields
// (9–11): its fields, keyed by the catalogue's parameter names.
type edit map[string]any

// requiredEdit returns the fields every ClientUserEdit must carry, for
// user with the i-th values.
func requiredEdit(user string, i int) edit {
	return edit{
		"ClientUserID": user,
		"Name":         "Имя " + strconv.Itoa(i),
		"Password":     "secret1",
		"Phone":        fmt.Sprintf("+7 900 %03d-%02d-%02d", i/10000%1000, i/100%100, i%100),
		"EMail":        "user" + strconv.Itoa(i) + "@example.com",
	}
}

// editMessages turns edits into commands with ids prefix + index, JSON,
// with Nats-Msg-Id and the reply subject, as commands does.
func editMessages(prefix string, edits []edit, replyTo string) ([]*nats.Msg, error) {
	msgs := make([]*nats.Msg, len(edits))
	for i, f := range edits {
		id := prefix + strconv.Itoa(i)
		data, err := json.Marshal(struct {
			ID     string `json:"id"`
			Fields edit   `json:"fields"`
		}{id, f})
		if err != nil {
			return nil, err
		}
		m := nats.NewMsg(contract.CommandPrefix + op)
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, id)
		m.Header.Set(contract.HeaderContentType, contract.ContentTypeJSON)
		m.Header.Set(contract.HeaderReplyTo, replyTo)
		msgs[i] = m
	}
	return msgs, nil
}

// publishAll publishes msgs asynchronously and waits until the server
// has stored every one. It returns when the first was published.
func (e *env) publishAll(ctx context.Context, msgs []*nats.Msg) (time.Time, error) {
	start := time.Now()
	for _, m := range msgs {
		if _, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			return start, fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		return start, ctx.Err()
	case <-time.After(5 * time.Minute):
		return start, errors.New("publish: no acknowledgement of every command within 5m")
	}
	if n := e.pubErrs.Load(); n > 0 {
		return start, fmt.Errorf("publish: %d commands refused by the server", n)
	}
	return start, nil
}

// trickle publishes msgs at rate per second, each at its own tick, and
// records when each was published. It returns when the last was stored.
func (e *env) trickle(ctx context.Context, msgs []*nats.Msg, rate int, sent []time.Time) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i, m := range msgs {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		sent[i] = time.Now()
		if _, err := e.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := e.pubErrs.Load(); n > 0 {
		return fmt.Errorf("publish: %d commands refused by the server", n)
	}
	return nil
}

// results gathers the results a worker publishes to the producer's reply
// subject. Command ids are prefix + index, so results land in slices.
type results struct {
	prefix string
	sub    *nats.Subscription

	mu      sync.Mutex  // protects everything below
	at      []time.Time // when each result arrived
	decided []time.Time // each result's At: when the worker decided it
	batch   []string
	// collapsed is each result's collapsed_into: the id of the command
	// whose row carried it, empty when it had a row of its own.
	collapsed []string
	codes     map[string]int
	got       int
	dup       int
	bad       int
	last      time.Time
	done      chan struct{}
	donePut   bool
}

func (e *env) collect(subject, prefix string, n int) (*results, error) {
	r := &results{prefix: prefix, at: make([]time.Time, n), decided: make([]time.Time, n), batch: make([]string, n),
		collapsed: make([]string, n), codes: map[string]int{}, done: make(chan struct{})}
	sub, err := e.nc.Subscribe(subject, func(m *nats.Msg) {
		now := time.Now()
		res, err := contract.DecodeResult(m.Data)
		r.mu.Lock()
		defer r.mu.Unlock()
		i, ierr := strconv.Atoi(strings.TrimPrefix(res.ID, prefix))
		if err != nil || ierr != nil || i < 0 || i >= len(r.at) {
			r.bad++
			return
		}
		if !r.at[i].IsZero() {
			r.dup++
			return
		}
		r.at[i], r.decided[i], r.batch[i], r.collapsed[i], r.last = now, res.At, res.Batch, res.CollapsedInto, now
		r.codes[res.Code]++
		r.got++
		if r.got == len(r.at) && !r.donePut {
			r.donePut = true
			close(r.done)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// wait waits for every result, or fails after d.
func (r *results) wait(ctx context.Context, d time.Duration) error {
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("%d of %d results after %s", r.got, len(r.at), d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codes[contract.CodeSuccess] != len(r.at) {
		return fmt.Errorf("not every command succeeded: %v", r.codes)
	}
	return nil
}

func (r *results) lastAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// workerSettings are the knobs a line sets on the worker under test.
type workerSettings struct {
	Ops map[string]worker.OpSettings
	// Defaults as the worker's Config.Defaults.
	Defaults worker.OpSettings
	// Limiter, when nil, is a local limiter with limits off.
	Limiter func(js jetstream.JetStream) (worker.Limiter, error)
}

// runningWorker is a worker started in this process on its own
// connection.
type runningWorker struct {
	w      *worker.Worker
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

// startWorker runs a worker against e until stop is called, and waits
// until it is ready.
func (e *env) startWorker(ws workerSettings) (*runningWorker, error) {
	nc, err := nats.Connect(e.url, nats.Name("bench-worker"))
	if err != nil {
		return nil, err
	}
	client, err := soap.New(soap.Config{URL: e.api, User: "admin", Password: "admin"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	var lim worker.Limiter
	if ws.Limiter != nil {
		js, jerr := jetstream.New(nc)
		if jerr != nil {
			nc.Close()
			return nil, jerr
		}
		lim, err = ws.Limiter(js)
	} else {
		lim, err = quota.NewLocal(quota.Config{
			Windows: quota.Windows{Length: time.Hour, Guard: -1},
			Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": unlimited}, Reserve: -1},
		})
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	w, err := worker.New(worker.Config{
		Conn:       nc,
		API:        client,
		Limiter:    lim,
		Operations: []string{op},
		Defaults:   ws.Defaults,
		Ops:        ws.Ops,
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWorker{w: w, nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.Ready() != nil {
		if time.Now().After(deadline) {
			rw.stop()
			return nil, fmt.Errorf("worker not ready after 30s: %w", w.Ready())
		}
		select {
		case err := <-rw.done:
			nc.Close()
			return nil, fmt.Errorf("worker stopped at start: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return rw, nil
}

// stop shuts the worker down and closes its connection.
func (rw *runningWorker) stop() {
	rw.cancel()
	select {
	case <-rw.done:
	case <-time.After(40 * time.Second):
	}
	rw.nc.Close()
}
