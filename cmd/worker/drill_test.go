package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

// TestFailureDrill runs the production shape on one machine — a 3-node
// JetStream cluster with every stream and bucket replicated 3 times, three
// worker processes sharing one quota, the sandbox — and, while 5,000
// commands flow, kills one worker and shuts one NATS node down and brings
// it back. Every command must end with exactly one result, and the quota
// must hold.
func TestFailureDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and three worker processes")
	}
	const (
		commands = 5000
		window   = 2 * time.Second
		limit    = 30
	)
	cluster := natstest.NewCluster(t, 3)
	urls := cluster.URLs()
	emu, err := emulator.New(emulator.Config{Window: window, Limits: map[string]int{"ClientUserEdit": limit}, LatencyMin: 2 * time.Millisecond, LatencyMax: 10 * time.Millisecond})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(commands)

	args := []string{
		"--nats-url", urls, "--replicas", "3",
		"--connect-url", hs.URL + emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", "off", "--ack-wait", "1s", "--max-wait", "50ms", "--log-level", "info",
		"--operations", "ClientUserEdit",
		"--quota-window", window.String(), "--quota-guard", "150ms", "--quota-reserve", "0",
		"--limit", fmt.Sprintf("ClientUserEdit=%d", limit),
	}
	workers := []*proctest.Proc{startWorker(t, args...), startWorker(t, args...), startWorker(t, args...)}

	nc, js := natstest.Connect(t, urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx := context.Background()
	// The first worker to start creates the streams; wait for them.
	waitUntil(t, time.Minute, "the command stream", func() bool {
		_, err := js.Stream(ctx, contract.CommandStream)
		return err == nil
	})

	var mu sync.Mutex
	arrivals := map[string]time.Time{}
	inbox := nats.NewInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		r, err := contract.DecodeResult(m.Data)
		if err != nil {
			return
		}
		mu.Lock()
		if _, ok := arrivals[r.ID]; !ok {
			arrivals[r.ID] = time.Now()
		}
		mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	arrived := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals)
	}

	// Publish at a steady pace, retrying through the node's absence: the
	// same Nats-Msg-Id makes a retry harmless.
	published := make(chan struct{})
	go func() {
		defer close(published)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i, u := range users {
			if i%5 == 0 {
				<-tick.C
			}
			data, _ := json.Marshal(map[string]any{"id": fmt.Sprint("drill-", i), "fields": map[string]any{
				"ClientUserID": u, "Name": fmt.Sprint("D", i), "Password": "p", "Phone": "1", "EMail": "d@x.ru",
			}})
			m := nats.NewMsg(contract.CommandPrefix + "ClientUserEdit")
			m.Data = data
			m.Header.Set(contract.HeaderMsgID, fmt.Sprint("drill-", i))
			m.Header.Set(contract.HeaderReplyTo, inbox)
			for {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := js.PublishMsg(pctx, m)
				cancel()
				if err == nil {
					break
				}
			}
		}
	}()

	start := time.Now()
	waitUntil(t, 2*time.Minute, "a third of the results", func() bool { return arrived() >= commands/3 })
	require.NoError(t, workers[0].Cmd.Process.Kill())
	_ = workers[0].Cmd.Wait()
	killedAt := time.Since(start)
	t.Logf("killed worker 1 at %s, %d results in", killedAt.Round(time.Millisecond), arrived())

	waitUntil(t, 2*time.Minute, "half of the results", func() bool { return arrived() >= commands/2 })
	cluster.Stop(2)
	stoppedAt := time.Since(start)
	t.Logf("stopped NATS node 3 at %s, %d results in", stoppedAt.Round(time.Millisecond), arrived())
	waitUntil(t, 2*time.Minute, "progress without node 3", func() bool { return arrived() >= commands*2/3 })
	cluster.Restart(2)
	t.Logf("restarted NATS node 3 at %s, %d results in", time.Since(start).Round(time.Millisecond), arrived())
	<-published

	// Every command's result is in the result stream exactly once.
	stored := map[string][]contract.Result{}
	waitUntil(t, 3*time.Minute, "every result stored", func() bool {
		st, err := js.Stream(ctx, contract.ResultStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs >= commands
	})
	// Read it back; a consumer may need a moment after the node's return,
	// so empty batches are tolerated until the deadline.
	readDeadline := time.Now().Add(2 * time.Minute)
	var c jetstream.Consumer
	for total := 0; total < commands; {
		require.True(t, time.Now().Before(readDeadline), "read %d of %d results", total, commands)
		if c == nil {
			if c, err = js.OrderedConsumer(ctx, contract.ResultStream, jetstream.OrderedConsumerConfig{}); err != nil {
				c = nil
				continue
			}
			stored, total = map[string][]contract.Result{}, 0
		}
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			c = nil
			continue
		}
		for m := range batch.Messages() {
			r, err := contract.DecodeResult(m.Data())
			require.NoError(t, err)
			stored[r.ID] = append(stored[r.ID], r)
			total++
		}
	}
	require.Len(t, stored, commands)
	for id, rs := range stored {
		require.Len(t, rs, 1, "%s: exactly one final result", id)
		require.Equal(t, "SUCCESS", rs[0].Code, "%s: %+v", id, rs[0])
	}

	st := emu.Stats()
	require.LessOrEqual(t, st.MaxCallsInWindow["ClientUserEdit"], limit, "the shared quota held")
	require.Zero(t, st.OutOfLimit["ClientUserEdit"])

	// How long results stopped arriving, at worst.
	mu.Lock()
	times := make([]time.Time, 0, len(arrivals))
	for _, at := range arrivals {
		times = append(times, at)
	}
	mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var gap time.Duration
	var gapAt time.Time
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d > gap {
			gap, gapAt = d, times[i-1]
		}
	}
	t.Logf("drill: %d commands in %s, %d API calls (max %d in a %s window); longest interruption of results %s, at %s",
		commands, time.Since(start).Round(time.Millisecond), st.Calls["ClientUserEdit"], st.MaxCallsInWindow["ClientUserEdit"],
		window, gap.Round(time.Millisecond), gapAt.Sub(start).Round(time.Millisecond))
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}
