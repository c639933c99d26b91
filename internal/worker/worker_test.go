package worker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/contracttest"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// bundle is one test's world: a JetStream server, the sandbox API, and a
// running worker.
type bundle struct {
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	emu    *emulator.Server
	api    string
	worker *worker.Worker
	stop   func()
}

type options struct {
	emu    emulator.Config
	worker func(*worker.Config)
	limits quota.Limits
	// shared, when set, gives each worker a shared limiter of these
	// windows, on its own connection.
	shared *quota.Windows
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(o.emu)
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	b := &bundle{url: srv.ClientURL(), nc: nc, js: js, emu: emu, api: hs.URL + emulator.Path}
	b.startWorker(t, o)
	return b
}

// startWorker runs a worker on its own connection until the test ends (or
// stop is called).
func (b *bundle) startWorker(t *testing.T, o options) {
	t.Helper()
	wnc, _ := natstest.Connect(t, b.url)
	client, err := soap.New(soap.Config{URL: b.api, User: "admin", Password: "admin"})
	require.NoError(t, err)
	limits := o.limits
	if limits.Catalogue == nil {
		limits = quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 100000}, Reserve: -1}
	}
	var lim worker.Limiter
	if o.shared != nil {
		_, qjs := natstest.Connect(t, b.url)
		lim, err = quota.NewShared(context.Background(), quota.SharedConfig{JetStream: qjs, Config: quota.Config{Windows: *o.shared, Limits: limits}})
	} else {
		lim, err = quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Limits: limits})
	}
	require.NoError(t, err)
	cfg := worker.Config{
		// The operations the tests use: a lane each (all 87 would cost a
		// second of consumer set-up per test).
		Operations:    []string{"ClientUserEdit", "ClientUserAdd", "ClientUserDelete", "ClientUserRead", "RegionRead", "SpecialistAdd", "SpecialistRead"},
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Conn:          wnc,
		API:           client,
		Limiter:       lim,
		AckWait:       2 * time.Second,
		FetchWait:     200 * time.Millisecond,
		SweepInterval: 50 * time.Millisecond,
		Defaults:      worker.OpSettings{MaxWait: worker.Duration(50 * time.Millisecond)},
	}
	if o.worker != nil {
		o.worker(&cfg)
	}
	w, err := worker.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	b.worker = w
	b.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("worker did not stop within 30s")
		}
	}
	t.Cleanup(b.stop)
	waitFor(t, 10*time.Second, "worker ready", func() bool { return w.Ready() == nil })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// collect gathers the results published to subject.
func collect(t *testing.T, nc *nats.Conn, subject string) *contracttest.Results {
	return contracttest.Collect(t, nc, subject)
}

// publish sends one JSON command and waits for the stream to store it.
func publish(t *testing.T, js jetstream.JetStream, op, id, replyTo string, fields map[string]any) {
	t.Helper()
	contracttest.Publish(t, js, op, id, replyTo, fields)
}

func userFields(id string, n int) map[string]any {
	return map[string]any{
		"ClientUserID": id,
		"Name":         fmt.Sprintf("Имя%d", n),
		"Password":     "secret1",
		"Phone":        "+7 900 000-00-00",
		"EMail":        fmt.Sprintf("user%d@example.com", n),
	}
}

// resultStream returns every result stored in the result stream, by id.
func resultStream(t *testing.T, js jetstream.JetStream) map[string][]contract.Result {
	t.Helper()
	ctx := context.Background()
	c, err := js.OrderedConsumer(ctx, contract.ResultStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	st, err := js.Stream(ctx, contract.ResultStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	out := map[string][]contract.Result{}
	for n := uint64(0); n < info.State.Msgs; {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			r, err := contract.DecodeResult(m.Data())
			require.NoError(t, err)
			out[r.ID] = append(out[r.ID], r)
			n++
		}
	}
	return out
}

func TestFiveThousandEditsInFiftyCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, options{worker: func(c *worker.Config) {
		c.Defaults.MaxWait = worker.Duration(10 * time.Second) // only full packets in this test
	}})
	users := b.emu.SeedClientUsers(5000)
	const producers = 8
	var wg sync.WaitGroup
	cols := make([]*contracttest.Results, producers)
	for p := range producers {
		inbox := nats.NewInbox()
		cols[p] = collect(t, b.nc, inbox)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < len(users); i += producers {
				publish(t, b.js, "ClientUserEdit", fmt.Sprintf("edit-%d", i), inbox, userFields(users[i], i))
			}
		}()
	}
	wg.Wait()
	total := 0
	for p, c := range cols {
		got := c.Wait(t, len(users)/producers, 2*time.Minute)
		for id, rs := range got {
			require.Len(t, rs, 1, "producer %d, %s: one result on the reply subject", p, id)
			require.Equal(t, "SUCCESS", rs[0].Code, "%s: %+v", id, rs[0])
			require.Equal(t, "ClientUserEdit", rs[0].Op)
			require.Equal(t, 1, rs[0].Attempts)
			require.NotEmpty(t, rs[0].Batch)
			total++
		}
	}
	require.Equal(t, len(users), total)
	stats := b.emu.Stats()
	require.LessOrEqual(t, stats.Calls["ClientUserEdit"], 51, "5,000 commands in at most 51 calls")
	require.Equal(t, len(users), stats.Rows["ClientUserEdit"])
	stored := resultStream(t, b.js)
	require.Len(t, stored, len(users))
	for id, rs := range stored {
		require.Len(t, rs, 1, "%s: one result in CONNECT_RESULT", id)
		require.Equal(t, "SUCCESS", rs[0].Code)
	}
	for _, u := range users[:50] {
		obj, ok := b.emu.Get("ClientUser", u)
		require.True(t, ok)
		require.Equal(t, 1, obj.Edits, "each user edited once")
	}
}
