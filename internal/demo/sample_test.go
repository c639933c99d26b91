package demo

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// TestSampleThroughTheRealWorker sends the sample, as `make run` does, to
// a real worker with its default settings (max-wait 2s, collapse on) on
// an embedded JetStream server and the sandbox, and checks the summary's
// figures: every command answered once, the invalid ones never sent, the
// hot users' edits collapsed, and the fewest calls — 5 packets of the
// plain edits' shape (400 plain rows, 1 of the missing user, and a few
// rows of each hot user: how many of its edits collapse depends on
// whether its row was still waiting when the next arrived), 1 of the
// profiles' shape, the add and the read.
func TestSampleThroughTheRealWorker(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := natstest.Server(t)
	emu, err := emulator.New(emulator.Config{Seed: 1, LatencyMin: 20 * time.Millisecond, LatencyMax: 20 * time.Millisecond})
	require.NoError(t, err)
	emu.SeedClientUsers(DefaultPlan.SeedUsers())
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	client, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	lim, err := quota.NewLocal(quota.Config{Windows: quota.Windows{Length: time.Hour, Guard: -1}, Limits: quota.Limits{Catalogue: catalog.HourlyLimits}})
	require.NoError(t, err)
	wnc, _ := natstest.Connect(t, srv.ClientURL())
	w, err := worker.New(worker.Config{Conn: wnc, API: client, Limiter: lim})
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-stopped)
	})
	for w.Ready() != nil {
		select {
		case <-ctx.Done():
			t.Fatalf("worker not ready: %v", w.Ready())
		case <-time.After(10 * time.Millisecond): // polling readiness, nothing to wait on
		}
	}

	cmds := DefaultPlan.Commands()
	nc, js := natstest.Connect(t, srv.ClientURL())
	inbox := nats.NewInbox()
	var mu sync.Mutex // protects results
	var results []contract.Result
	all := make(chan struct{})
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		r, err := contract.DecodeResult(m.Data)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
		if len(results) == len(cmds) {
			close(all)
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	began := time.Now()
	for _, c := range cmds {
		data, err := json.Marshal(struct {
			ID     string         `json:"id"`
			Fields map[string]any `json:"fields"`
		}{c.ID, c.Fields})
		require.NoError(t, err)
		m := nats.NewMsg(contract.CommandPrefix + c.Op)
		m.Data = data
		m.Header.Set(contract.HeaderMsgID, c.ID)
		m.Header.Set(contract.HeaderReplyTo, inbox)
		_, err = js.PublishMsgAsync(m)
		require.NoError(t, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishes not acknowledged")
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d results for %d commands", len(results), len(cmds))
	}
	mu.Lock()
	got := append([]contract.Result(nil), results...)
	mu.Unlock()

	s, err := Summarize(Inputs{Commands: cmds, Results: got, Stats: emu.Stats(), Elapsed: time.Since(began)})
	require.NoError(t, err)
	require.Equal(t, 3, s.Refused)
	require.Equal(t, map[string]int{contract.CodeSuccess: len(cmds) - 4, contract.CodeInvalidFields: 3, "OBJECT_NOT_FOUND": 1}, s.Codes)
	require.Equal(t, len(cmds)-3, s.Naive)
	require.Equal(t, DefaultPlan.Hot, s.CollapsedObjects, "every hot user's edits collapsed")
	require.Equal(t, map[string]int{"ClientUserEdit": 6, "DepartmentAdd": 1, "RegionRead": 1}, s.CallsOf)
	require.Equal(t, DefaultPlan.Plain+1+DefaultPlan.Profiles+(DefaultPlan.Hot*DefaultPlan.HotEdits-s.Collapsed), s.RowsOf["ClientUserEdit"],
		"one row per edit sent, none for the collapsed ones")
}
