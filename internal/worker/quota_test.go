package worker_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// window is the test's "hour".
const window = 2 * time.Second

func quotaOptions(sandboxLimit, workerLimit int) options {
	return options{
		emu: emulator.Config{Window: window, Limits: map[string]int{"ClientUserEdit": sandboxLimit, "*": 1000}},
		limits: quota.Limits{Catalogue: catalog.HourlyLimits, Reserve: -1,
			Override: map[string]int{"ClientUserEdit": workerLimit, "*": 1000}},
		shared: &quota.Windows{Length: window, Guard: 400 * time.Millisecond, Location: quota.MoscowTime()},
		worker: func(c *worker.Config) {
			// All three replicas pull every operation at once: the shared
			// ledger alone keeps them within the limit.
			c.Unordered = true
			c.Defaults.MaxWait = worker.Duration(20 * time.Millisecond)
		},
	}
}

func TestThreeWorkersShareOneQuota(t *testing.T) {
	t.Parallel()
	o := quotaOptions(5, 5)
	b := setup(t, o)
	b.startWorker(t, o)
	b.startWorker(t, o)
	users := b.emu.SeedClientUsers(1000)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	start := time.Now()
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("edit", i), inbox, userFields(u, i))
	}
	// While edits wait for their windows, another operation flows.
	addInbox := nats.NewInbox()
	adds := collect(t, b.nc, addInbox)
	for i := range 50 {
		publish(t, b.js, "ClientUserAdd", fmt.Sprint("add", i), addInbox, addFields(i))
	}
	adds.Wait(t, 50, 30*time.Second)
	editsDone := col.Count()
	require.Less(t, editsDone, len(users), "the adds finished while edits were still waiting for the quota")

	got := col.Wait(t, len(users), 2*time.Minute)
	elapsed := time.Since(start)
	for id, rs := range got {
		require.Equal(t, "SUCCESS", rs[0].Code, id)
	}
	st := b.emu.Stats()
	require.LessOrEqual(t, st.MaxCallsInWindow["ClientUserEdit"], 5, "never more than the limit in a window")
	require.Zero(t, st.OutOfLimit["ClientUserEdit"], "the worker never ran into the API's limit")
	require.Equal(t, len(users), st.Rows["ClientUserEdit"])
	t.Logf("1000 edits in %d calls over %s (%d windows)", st.Calls["ClientUserEdit"], elapsed.Round(time.Millisecond), int(elapsed/window)+1)
}

func TestAnotherClientSpendsPartOfTheQuota(t *testing.T) {
	t.Parallel()
	// The sandbox allows 3 calls a window, the worker believes 5: another
	// client of the account uses the rest.
	o := quotaOptions(3, 5)
	b := setup(t, o)
	users := b.emu.SeedClientUsers(600)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	start := time.Now()
	for i, u := range users {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("edit", i), inbox, userFields(u, i))
	}
	got := col.Wait(t, len(users), 2*time.Minute)
	elapsed := time.Since(start)
	for id, rs := range got {
		require.Equal(t, "SUCCESS", rs[0].Code, id)
	}
	st := b.emu.Stats()
	windows := int(elapsed/window) + 2
	require.LessOrEqual(t, st.OutOfLimit["ClientUserEdit"], windows, "at most one OUT_OF_LIMIT per window")
	require.Positive(t, st.OutOfLimit["ClientUserEdit"])
	require.LessOrEqual(t, st.MaxCallsInWindow["ClientUserEdit"], 3)
	t.Logf("%d calls, %d OUT_OF_LIMIT over %d windows", st.Calls["ClientUserEdit"], st.OutOfLimit["ClientUserEdit"], windows)
}

func TestNoCallWhileTheQuotaIsUnreachable(t *testing.T) {
	t.Parallel()
	// The quota ledger lives on its own server here, so that it alone can
	// be taken away.
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	qsrv, err := embednats.Start(embednats.Config{Port: port, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { qsrv.Shutdown() })
	_, qjs := natstest.Connect(t, qsrv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	lim, err := quota.NewShared(context.Background(), quota.SharedConfig{JetStream: qjs, Config: quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1000}, Reserve: -1},
	}})
	require.NoError(t, err)

	b := setup(t, options{worker: func(c *worker.Config) {
		c.Limiter = lim
	}})
	users := b.emu.SeedClientUsers(20)
	inbox := nats.NewInbox()
	col := collect(t, b.nc, inbox)
	publish(t, b.js, "ClientUserEdit", "before", inbox, userFields(users[0], 0))
	col.Wait(t, 1, 30*time.Second)

	qsrv.Shutdown()
	qsrv.WaitForShutdown()
	for i, u := range users[1:] {
		publish(t, b.js, "ClientUserEdit", fmt.Sprint("during", i), inbox, userFields(u, i))
	}
	waitFor(t, 30*time.Second, "readiness to report the quota", func() bool {
		err := b.worker.Ready()
		return err != nil && strings.Contains(err.Error(), "quota")
	})
	calls := b.emu.Stats().Calls["ClientUserEdit"]
	require.Equal(t, 1, calls, "no call without a grant")

	qsrv, err = embednats.Start(embednats.Config{Port: port, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { qsrv.Shutdown() })
	got := col.Wait(t, len(users), time.Minute)
	for id, rs := range got {
		require.Equal(t, "SUCCESS", rs[0].Code, id)
	}
	waitFor(t, 30*time.Second, "readiness back", func() bool { return b.worker.Ready() == nil })
}
