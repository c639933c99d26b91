package worker

// The lane in a testing/synctest bubble: time is simulated, so windows,
// max-wait, max-hold and backoff run at once, and the bubble ends only
// when every goroutine the lane started has ended.
//
// What the lane talks to is either real or in memory, never a network:
// the sandbox API (internal/emulator) behind the real SOAP client, over
// an in-memory HTTP transport; the real quota limiter (quota.Local); and
// fakes of what JetStream gives the lane — a command source, the outcome
// bucket, the result sink.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// laneWorld is one lane with everything around it.
type laneWorld struct {
	t      *testing.T
	l      *lane
	src    *fakeSource
	sink   *fakeSink
	emu    *emulator.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// laneOpts sets a lane world up; zero fields take the defaults given.
type laneOpts struct {
	op     string // defaults to ClientUserEdit
	limits map[string]int
	window time.Duration // the quota's and the sandbox's; defaults to 1h
	emu    emulator.Config
	worker func(*Config)
	// apiLatency is the sandbox's latency for every call.
	apiLatency time.Duration
}

// startLane starts a lane in the current bubble. The caller must call
// stop before the bubble's function returns.
func startLane(t *testing.T, o laneOpts) *laneWorld {
	t.Helper()
	if o.op == "" {
		o.op = "ClientUserEdit"
	}
	if o.window == 0 {
		o.window = time.Hour
	}
	ec := o.emu
	ec.Window = o.window
	ec.Limits = o.limits
	ec.LatencyMin, ec.LatencyMax = o.apiLatency, o.apiLatency
	emu, err := emulator.New(ec)
	require.NoError(t, err)
	client, err := soap.New(soap.Config{URL: "http://sandbox" + emulator.Path, User: "admin", Password: "admin",
		HTTPClient: &http.Client{Transport: handlerTransport{emu}}})
	require.NoError(t, err)
	override := map[string]int{"*": 100000}
	for k, v := range o.limits {
		override[k] = v
	}
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: o.window, Guard: -1, Location: time.UTC},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: override, Reserve: -1},
	})
	require.NoError(t, err)
	cfg := Config{
		API: client, Limiter: lim, Operations: []string{o.op},
		Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Metrics:   prometheus.NewRegistry(),
		AckWait:   30 * time.Second,
		FetchWait: 5 * time.Second,
	}
	if o.worker != nil {
		o.worker(&cfg)
	}
	w, err := build(cfg)
	require.NoError(t, err)
	w.maxCost = costFactor*(1<<20) + costFixed
	mem := newMemOutcomes()
	w.outcomes = mem
	l := w.lanes[o.op]
	src := newFakeSource(w.cfg.FetchWait)
	sink := newFakeSink(mem)
	l.src, l.sink = src, sink
	ctx, cancel := context.WithCancel(context.Background())
	lw := &laneWorld{t: t, l: l, src: src, sink: sink, emu: emu, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lw.done)
		l.run(ctx)
	}()
	return lw
}

// stop shuts the lane down and waits for it.
func (lw *laneWorld) stop() {
	lw.cancel()
	<-lw.done
}

// publish puts commands of the lane's operation on the fake stream.
func (lw *laneWorld) publish(id string, fields map[string]any) {
	lw.t.Helper()
	data, err := json.Marshal(map[string]any{"id": id, "fields": fields})
	require.NoError(lw.t, err)
	lw.src.push(contract.CommandPrefix+lw.l.op.Name, data)
}

// waitResults waits (in simulated time) until n commands have their
// result, and returns them by id.
func (lw *laneWorld) waitResults(n int, within time.Duration) map[string]contract.Result {
	lw.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := lw.sink.results()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			lw.t.Fatalf("%d of %d results within %s", len(got), n, within)
		}
		lw.sink.wait(deadline)
	}
}

// handlerTransport serves HTTP requests from a handler, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// fakeSource is a command stream with one consumer: Fetch hands out what
// is there, or waits its fetch wait for something to come.
type fakeSource struct {
	wait time.Duration

	mu      sync.Mutex // protects queue, seq, changed
	queue   []*fakeMsg
	seq     uint64
	changed chan struct{}
}

func newFakeSource(wait time.Duration) *fakeSource {
	return &fakeSource{wait: wait, changed: make(chan struct{})}
}

// push appends a new message.
func (s *fakeSource) push(subject string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.queue = append(s.queue, &fakeMsg{src: s, subject: subject, data: data, seq: s.seq, delivered: 0, hdr: nats.Header{}})
	s.signal()
}

// redeliver puts a handed-back message in front of the queue again.
func (s *fakeSource) redeliver(m *fakeMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append([]*fakeMsg{m}, s.queue...)
	s.signal()
}

func (s *fakeSource) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeSource) Fetch(n int, _ ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	expire := time.After(s.wait)
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			k := min(n, len(s.queue))
			out := make(chan jetstream.Msg, k)
			for _, m := range s.queue[:k] {
				m.delivered++
				m.pending = uint64(len(s.queue) - k)
				out <- m
			}
			s.queue = append([]*fakeMsg(nil), s.queue[k:]...)
			close(out)
			s.mu.Unlock()
			return fakeBatch{out}, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-expire:
			out := make(chan jetstream.Msg)
			close(out)
			return fakeBatch{out}, nil
		}
	}
}

type fakeBatch struct{ msgs chan jetstream.Msg }

func (b fakeBatch) Messages() <-chan jetstream.Msg { return b.msgs }
func (b fakeBatch) Error() error                   { return nil }

// fakeMsg is a delivered command.
type fakeMsg struct {
	src       *fakeSource
	subject   string
	data      []byte
	hdr       nats.Header
	seq       uint64
	delivered uint64
	pending   uint64

	mu    sync.Mutex // protects acked
	acked bool
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: m.delivered, NumPending: m.pending}, nil
}
func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Headers() nats.Header { return m.hdr }
func (m *fakeMsg) Subject() string      { return m.subject }
func (m *fakeMsg) Reply() string        { return "" }
func (m *fakeMsg) Ack() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acked = true
	return nil
}
func (m *fakeMsg) DoubleAck(context.Context) error { return m.Ack() }
func (m *fakeMsg) Nak() error                      { m.src.redeliver(m); return nil }
func (m *fakeMsg) NakWithDelay(d time.Duration) error {
	go func() {
		time.Sleep(d)
		m.src.redeliver(m)
	}()
	return nil
}
func (m *fakeMsg) InProgress() error           { return nil }
func (m *fakeMsg) Term() error                 { return m.Ack() }
func (m *fakeMsg) TermWithReason(string) error { return m.Ack() }

// memOutcomes is the outcome bucket in memory.
type memOutcomes struct {
	mu   sync.Mutex // protects recs
	recs map[string]*record
}

func newMemOutcomes() *memOutcomes { return &memOutcomes{recs: map[string]*record{}} }

func (o *memOutcomes) lookup(_ context.Context, es []*entry) ([]*record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*record, len(es))
	for i, e := range es {
		if r, ok := o.recs[contract.OutcomeKey(e.op, e.cmd.ID)]; ok {
			c := *r
			out[i] = &c
		}
	}
	return out, nil
}

func (o *memOutcomes) markSent(_ context.Context, op, batch string, items []batcher.Item[*entry]) ([]int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var lost []int
	for i, it := range items {
		k := contract.OutcomeKey(op, it.Value.cmd.ID)
		rev := uint64(0)
		if r, ok := o.recs[k]; ok {
			rev = r.revision
		}
		if rev != it.Value.outcomeRev {
			lost = append(lost, i)
			continue
		}
		o.recs[k] = &record{outcome: contract.Outcome{State: contract.StateSent, Batch: batch}, revision: rev + 1}
		it.Value.outcomeRev = rev + 1
	}
	return lost, nil
}

func (o *memOutcomes) final(fn *final) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := contract.OutcomeKey(fn.e.op, fn.result.ID)
	rev := uint64(0)
	if r, ok := o.recs[k]; ok {
		rev = r.revision
	}
	r := fn.result
	o.recs[k] = &record{outcome: contract.Outcome{State: contract.StateFinal, Batch: r.Batch, Result: &r}, revision: rev + 1}
}

// fakeSink records final results, acknowledges their commands and hands
// them back, as the finisher does, without NATS.
type fakeSink struct {
	outcomes *memOutcomes

	mu      sync.Mutex // protects byID, changed
	byID    map[string][]contract.Result
	changed chan struct{}
}

func newFakeSink(o *memOutcomes) *fakeSink {
	return &fakeSink{outcomes: o, byID: map[string][]contract.Result{}, changed: make(chan struct{})}
}

func (s *fakeSink) run(in <-chan []*final, done chan<- []*entry) {
	for batch := range in {
		es := make([]*entry, len(batch))
		s.mu.Lock()
		for i, fn := range batch {
			if !fn.replay {
				s.outcomes.final(fn)
			}
			s.byID[fn.result.ID] = append(s.byID[fn.result.ID], fn.result)
			_ = fn.e.msg.Ack()
			es[i] = fn.e
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		done <- es
	}
}

// results returns the first result of every command that has one; a
// command with two different results fails the test at once.
func (s *fakeSink) results() map[string]contract.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]contract.Result, len(s.byID))
	for id, rs := range s.byID {
		out[id] = rs[0]
	}
	return out
}

// wait waits for a new result or the deadline.
func (s *fakeSink) wait(deadline time.Time) {
	s.mu.Lock()
	ch := s.changed
	s.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(time.Until(deadline)):
	}
}

// edit is a ClientUserEdit's fields.
func edit(user string, n int) map[string]any {
	return map[string]any{"ClientUserID": user, "Name": fmt.Sprintf("Имя%d", n), "Password": "secret1", "Phone": "+7 900 000-00-00", "EMail": "u@example.com"}
}
