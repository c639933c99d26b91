package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/contracttest"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

// TestMain lets the test binary be the worker: the failure tests start it
// again as a child process with RUN_WORKER_MAIN=1, and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_WORKER_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startWorker runs the worker (this test binary, see TestMain) as a
// child process, killed when the test ends.
func startWorker(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, os.Args[0], args, []string{"RUN_WORKER_MAIN=1"})
}

func TestKilledWorkerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills worker processes")
	}
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv.ClientURL())
	emu, err := emulator.New(emulator.Config{LatencyMin: 5 * time.Millisecond, LatencyMax: 20 * time.Millisecond})
	require.NoError(t, err)
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	users := emu.SeedClientUsers(3000)

	args := []string{
		"--nats-url", srv.ClientURL(),
		"--connect-url", hs.URL + emulator.Path, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", "off", "--ack-wait", "1s", "--max-wait", "20ms", "--log-level", "warn",
		"--operations", "ClientUserEdit,ClientUserAdd",
		"--limit", "*=100000", "--quota-guard", "-1s", "--local-quota",
	}
	first := startWorker(t, args...)

	inbox := nats.NewInbox()
	res := contracttest.Collect(t, nc, inbox)

	const adds = 300
	ctx := context.Background()
	pub := func(op, id string, fields map[string]any) {
		data, _ := json.Marshal(map[string]any{"id": id, "fields": fields})
		m := nats.NewMsg(contract.CommandPrefix + op)
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, id)
		m.Header.Set(contract.HeaderReplyTo, inbox)
		_, err := js.PublishMsgAsync(m)
		require.NoError(t, err)
	}
	for i, u := range users {
		pub("ClientUserEdit", fmt.Sprint("edit-", i), map[string]any{
			"ClientUserID": u, "Name": fmt.Sprint("N", i), "Password": "p", "Phone": "1", "EMail": "e@x.ru",
		})
		if i%(len(users)/adds) == 0 {
			// Adds spread over the run, so that the kill finds some in flight.
			n := i / (len(users) / adds)
			pub("ClientUserAdd", fmt.Sprint("add-", n), map[string]any{"ClientID": emulator.SeedClientID, "Name": fmt.Sprint("A", n)})
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishing timed out")
	}

	// Kill the worker mid-run: the process, not a clean stop.
	res.Wait(t, 800, time.Minute)
	require.NoError(t, first.Cmd.Process.Kill())
	_ = first.Cmd.Wait()
	published := map[string]bool{}
	for id := range res.Get() {
		published[id] = true
	}
	editsAtKill := map[string]int{}
	for _, u := range users {
		obj, _ := emu.Get("ClientUser", u)
		editsAtKill[u] = obj.Edits
	}
	t.Logf("killed the worker after %d results", len(published))
	require.Less(t, len(published), len(users)+adds, "the kill came mid-run")

	startWorker(t, args...)
	got := res.Wait(t, len(users)+adds, 2*time.Minute)
	codes := map[string]int{}
	for id, rs := range got {
		for _, r := range rs[1:] {
			require.Equal(t, rs[0], r, "%s: a command never gets two different results", id)
		}
		codes[rs[0].Op+" "+rs[0].Code]++
	}
	t.Logf("results: %v", codes)
	require.Equal(t, len(users), codes["ClientUserEdit SUCCESS"])
	for i, u := range users {
		obj, _ := emu.Get("ClientUser", u)
		require.GreaterOrEqual(t, obj.Edits, 1)
		if published[fmt.Sprint("edit-", i)] {
			require.Equal(t, editsAtKill[u], obj.Edits, "edit-%d applied again after its result was published", i)
		}
	}
	created := len(emu.Applied("ClientUserAdd"))
	ok, unknown := codes["ClientUserAdd SUCCESS"], codes["ClientUserAdd "+contract.CodeUnknownOutcome]
	require.Equal(t, adds, ok+unknown, "adds end SUCCESS or UNKNOWN_OUTCOME")
	require.GreaterOrEqual(t, created, ok)
	require.LessOrEqual(t, created, ok+unknown, "no add applied twice")

	stored := map[string]int{}
	c, err := js.OrderedConsumer(ctx, contract.ResultStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for len(stored) < len(users)+adds {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			r, err := contract.DecodeResult(m.Data())
			require.NoError(t, err)
			stored[r.ID]++
			n++
		}
		if n == 0 {
			break
		}
	}
	require.Len(t, stored, len(users)+adds)
	for id, n := range stored {
		require.Equal(t, 1, n, "%s: one result in the result stream", id)
	}
}
