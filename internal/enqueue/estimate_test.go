package enqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// quotaWorld is a sandbox with short limit windows and a real worker
// spending its quota through the shared ledger, on an embedded JetStream.
type quotaWorld struct {
	url   string
	emu   *emulator.Server
	quota quota.Config // the worker's windows and limits
}

// startQuotaWorld starts the sandbox (limit calls of ClientUserEdit per
// window) and a worker that knows the same limit, and waits until the
// worker is ready.
func startQuotaWorld(t *testing.T, window, guard time.Duration, limit int) *quotaWorld {
	t.Helper()
	srv := natstest.Server(t)
	emu, err := emulator.New(emulator.Config{Window: window, Limits: map[string]int{"ClientUserEdit": limit, "*": 1000}})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	qcfg := quota.Config{
		Windows: quota.Windows{Length: window, Guard: guard, Location: quota.MoscowTime()},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"ClientUserEdit": limit}, Reserve: -1},
	}
	wnc, _ := natstest.Connect(t, srv.ClientURL())
	_, qjs := natstest.Connect(t, srv.ClientURL())
	lim, err := quota.NewShared(context.Background(), quota.SharedConfig{JetStream: qjs, Config: qcfg})
	require.NoError(t, err)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	w, err := worker.New(worker.Config{
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Conn:          wnc,
		API:           api,
		Limiter:       lim,
		Operations:    []string{"ClientUserEdit"},
		AckWait:       5 * time.Second,
		FetchWait:     200 * time.Millisecond,
		SweepInterval: 50 * time.Millisecond,
		Defaults:      worker.OpSettings{MaxWait: worker.Duration(250 * time.Millisecond)},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop within 30s")
		}
	})
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for w.Ready() != nil {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the worker is not ready: %v", w.Ready())
		}
	}
	return &quotaWorld{url: srv.ClientURL(), emu: emu, quota: qcfg}
}

// editsFile writes a JSON lines file of one ClientUserEdit per user.
func editsFile(t *testing.T, users []string) string {
	t.Helper()
	var b strings.Builder
	for i, u := range users {
		line, err := json.Marshal(map[string]any{"op": "ClientUserEdit", "id": fmt.Sprint("edit-", i),
			"fields": map[string]any{"ClientUserID": u, "Name": fmt.Sprint("Имя", i), "Password": "secret1",
				"Phone": "+7 900 000-00-00", "EMail": fmt.Sprintf("user%d@example.com", i)}})
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "edits.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// TestEstimateKnowsTheQuota: 10,000 edits at 100 rows a call are 100
// calls; at 10 calls per 2 s window they take about 20 s. The first
// estimate made once the run's first call is answered must be within 20%
// of the time the run takes: a rate measured over that call (100 results
// in a moment) would say 10,000 results in a few seconds.
func TestEstimateKnowsTheQuota(t *testing.T) {
	const window, guard, limit, commands = 2 * time.Second, 100 * time.Millisecond, 10, 10000
	world := startQuotaWorld(t, window, guard, limit)
	users := world.emu.SeedClientUsers(commands)
	src, closer, err := enqueue.OpenFile(editsFile(t, users), nil, "", false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closer.Close() })
	require.Equal(t, commands, src.Total)

	var mu sync.Mutex // protects first, all
	var first *enqueue.Estimate
	var all []enqueue.Estimate
	nc, err := natsconn.Connect(natsconn.ConnFlags{Server: world.url})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	stdout, stderr := &proctest.Buffer{}, &proctest.Buffer{}
	cl, err := enqueue.New(nc, enqueue.Config{
		Wait: true, Timeout: time.Minute, Stdout: stdout, Stderr: stderr,
		Quota:         world.quota,
		EstimateEvery: 50 * time.Millisecond,
		OnEstimate: func(e enqueue.Estimate) {
			mu.Lock()
			defer mu.Unlock()
			all = append(all, e)
			if first == nil && e.Started {
				first = &e
			}
		},
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sum, err := cl.Publish(ctx, src)
	actual := time.Since(start)
	require.NoError(t, err, "stderr: %s", stderr.String())
	require.Equal(t, commands, sum.ByCode[contract.CodeSuccess])

	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, first, "no estimate once the first call was answered")
	require.True(t, first.Ledger, "the estimate read the shared ledger")
	require.Zero(t, first.Blocked)
	estimated := first.Finish.Sub(start)
	st := world.emu.Stats()
	t.Logf("first estimate at +%s: %s (a call every %s); finish at +%s; the run took %s (%d calls, %d estimates)",
		first.At.Sub(start).Round(time.Millisecond), first, first.CallTime.Round(time.Millisecond), estimated.Round(time.Millisecond),
		actual.Round(time.Millisecond), st.Calls["ClientUserEdit"], len(all))
	// The calls of each window of the run, from the ledger (its keys
	// outlive the run by a minute).
	_, js := natstest.Connect(t, world.url)
	reader, err := quota.NewReader(quota.ReaderConfig{Config: world.quota, JetStream: js})
	require.NoError(t, err)
	var perWindow []int
	for at := start; at.Before(start.Add(actual + window)); at = at.Add(window) {
		st, err := reader.Status(ctx, []string{"ClientUserEdit"}, at)
		require.NoError(t, err)
		perWindow = append(perWindow, st[0].Used)
	}
	t.Logf("calls per window: %v; the run started %s into its window", perWindow, start.Sub(reader.Windows().Start(start)).Round(time.Millisecond))
	t.Logf("estimate error %.1f%%", 100*(estimated-actual).Seconds()/actual.Seconds())
	require.Zero(t, st.OutOfLimit["ClientUserEdit"])
	require.InDelta(t, actual.Seconds(), estimated.Seconds(), 0.2*actual.Seconds(),
		"estimated %s, took %s", estimated, actual)
	require.Contains(t, first.String(), "calls at 18000 calls/h")
}

// TestEstimateWithoutLedger: with no shared ledger (workers with
// --local-quota) the estimate falls back to the configured limits, says
// so, creates no bucket, and the summary is the same.
func TestEstimateWithoutLedger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	b.fakeWorker(t, func(op string, c contract.Command) *contract.Result {
		<-release
		return success(op, c)
	})
	estimates := make(chan enqueue.Estimate, 64)
	cl := b.client(t, enqueue.Config{Wait: true, EstimateEvery: 10 * time.Millisecond, OnEstimate: func(e enqueue.Estimate) {
		select {
		case estimates <- e:
		default:
		}
	}})
	type outcome struct {
		sum enqueue.Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := cl.Publish(testContext(t), args(t, false,
			"ClientUserEdit", `{"id":"e-1"}`, "ClientUserEdit", `{"id":"e-2"}`, "ServiceRequestAdd", `{"id":"e-3"}`))
		done <- outcome{sum, err}
	}()
	var e enqueue.Estimate
	select {
	case e = <-estimates:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("no estimate")
	}
	close(release)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Publish did not return")
	}
	require.NoError(t, o.err)

	require.False(t, e.Ledger)
	require.Equal(t, 2, e.Calls, "one packet of edits, one request")
	require.Equal(t, 2, e.Ops)
	require.False(t, e.Finish.IsZero())
	require.Contains(t, e.String(), "quota ledger not read, this window assumed unused")
	stderr := b.stderr.String()
	require.Equal(t, 1, strings.Count(stderr, "enqueue: estimate: no shared quota ledger"), stderr)
	require.Contains(t, stderr, "enqueue: 3 commands from args: 3 published, 0 duplicates, 0 failed to publish, 0 malformed, 0 ids generated;")
	require.Contains(t, stderr, "enqueue: 3 results: SUCCESS 3\n")
	_, err := b.js.KeyValue(testContext(t), quota.DefaultBucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound, "the estimate created no ledger")
}

// TestEstimateLedgerNotAllowed: a producer whose NATS user may not read
// the ledger (as the deployment's producers) publishes without delay and
// gets estimates from the configured limits, said so once.
func TestEstimateLedgerNotAllowed(t *testing.T) {
	t.Parallel()
	denied := []string{"$JS.API.STREAM.INFO.KV_" + quota.DefaultBucket, "$JS.API.DIRECT.GET.KV_" + quota.DefaultBucket + ".>",
		"$JS.API.STREAM.MSG.GET.KV_" + quota.DefaultBucket, "$KV." + quota.DefaultBucket + ".>"}
	srv := natstest.ServerWith(t, -1, "", func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "admin"},
			{Username: "producer", Password: "producer", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: denied}}},
		}
	})
	_, ajs := natstest.Connect(t, srv.ClientURL(), nats.UserInfo("admin", "admin"))
	ctx := testContext(t)
	_, err := quota.NewShared(ctx, quota.SharedConfig{JetStream: ajs, Config: quota.Config{Limits: quota.Limits{Catalogue: catalog.HourlyLimits}}})
	require.NoError(t, err, "the ledger exists")
	_, err = ajs.CreateStream(ctx, jetstream.StreamConfig{Name: contract.CommandStream, Subjects: []string{contract.CommandPrefix + ">"}})
	require.NoError(t, err)

	nc, err := natsconn.Connect(natsconn.ConnFlags{Server: srv.ClientURL(), User: "producer", Password: "producer"})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	stderr := &proctest.Buffer{}
	estimates := make(chan enqueue.Estimate, 1)
	cl, err := enqueue.New(nc, enqueue.Config{Wait: true, Timeout: 300 * time.Millisecond, Stderr: stderr, EstimateEvery: 10 * time.Millisecond,
		OnEstimate: func(e enqueue.Estimate) {
			select {
			case estimates <- e:
			default:
			}
		}})
	require.NoError(t, err)
	start := time.Now()
	sum, err := cl.Publish(ctx, args(t, false, "ClientUserEdit", `{"id":"p-1"}`, "ServiceRequestAdd", `{"id":"p-2"}`))
	took := time.Since(start)
	require.ErrorIs(t, err, enqueue.ErrIncomplete, "no worker: the results are missing")
	require.Equal(t, 2, sum.Published)
	// A request the server refuses is never answered: each read waits
	// for its timeout (1 s), and a ledger that failed is not asked again
	// for 30 s, so the run is not held longer than one read.
	t.Logf("published and waited 300ms in %s", took)
	require.Less(t, took, 5*time.Second, "publishing waited on the ledger")
	var e enqueue.Estimate
	select {
	case e = <-estimates:
	default:
		t.Fatal("no estimate")
	}
	require.False(t, e.Ledger)
	require.Equal(t, 1, strings.Count(stderr.String(), "enqueue: estimate: cannot read the quota ledger"), stderr.String())
}
