package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// TestMain fails the run if the service leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bridge starts an embedded JetStream server, the sandbox with one
// client user and the real worker; it returns the server's URL, the
// sandbox and the user's id.
func bridge(t *testing.T) (string, *emulator.Server, string) {
	t.Helper()
	srv := natstest.Server(t)
	emu, err := emulator.New(emulator.Config{Seed: 1, Limits: map[string]int{"*": 1 << 30}})
	require.NoError(t, err)
	user := emu.SeedClientUsers(1)[0]
	hs := httptest.NewServer(emu)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	t.Cleanup(api.Close)
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1 << 30}},
	})
	require.NoError(t, err)
	wnc, _ := natstest.Connect(t, srv.ClientURL())
	w, err := worker.New(worker.Config{Conn: wnc, API: api, Limiter: lim,
		Defaults: worker.OpSettings{MaxWait: worker.Duration(20 * time.Millisecond)}, FetchWait: 200 * time.Millisecond})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-stopped) })
	deadline := time.Now().Add(30 * time.Second)
	for w.Ready() != nil {
		require.True(t, time.Now().Before(deadline), "worker not ready: %v", w.Ready())
		<-time.After(10 * time.Millisecond) // polling readiness: nothing to wait on
	}
	return srv.ClientURL(), emu, user
}

// TestProfileSync runs the service (run, as main does) against the
// bridge and posts updates: one the service applies, one the SDK
// refuses before sending, one for a user the service does not have, and
// requests that are not updates.
func TestProfileSync(t *testing.T) {
	url, emu, user := bridge(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, config{NATS: url, Listener: ln, Timeout: 30 * time.Second}) }()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()
	base := "http://" + ln.Addr().String()

	post := func(t *testing.T, path, key, body string) (int, answer) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var a answer
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
		return resp.StatusCode, a
	}
	const update = `{"name":"Анна","surname":"Петрова","password":"secret1","phone":"+7 900 000-00-01","email":"anna@example.com"}`

	t.Run("an update is applied", func(t *testing.T) {
		began := time.Now()
		status, a := post(t, "/profiles/"+user, "crm-event-1", update)
		t.Logf("applied in %s", time.Since(began))
		require.Equal(t, http.StatusOK, status, "%+v", a)
		require.Equal(t, answer{ID: "crm-event-1", Code: "SUCCESS", Sent: true}, a)
		var found bool
		for _, o := range emu.Objects("ClientUser") {
			if o.ID == user {
				found = true
				require.Equal(t, "Петрова", o.Fields["Surname"].Text)
				require.Equal(t, "anna@example.com", o.Fields["EMail"].Text)
			}
		}
		require.True(t, found)
		status, again := post(t, "/profiles/"+user, "crm-event-1", update)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, a, again, "the same key gives the same result")
	})
	t.Run("bad fields are refused before sending", func(t *testing.T) {
		status, a := post(t, "/profiles/not-a-uuid", "", `{"name":"Анна","password":"x","phone":"1"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "INVALID_FIELDS", a.Code)
		require.False(t, a.Sent)
		require.NotEmpty(t, a.ID)
		var fields []string
		for _, f := range a.Fields {
			fields = append(fields, f.Field)
		}
		require.Equal(t, []string{"ClientUserID", "EMail"}, fields)
	})
	t.Run("an unknown user", func(t *testing.T) {
		status, a := post(t, "/profiles/00000000-0000-4000-8000-0000000000ff", "", update)
		require.Equal(t, http.StatusNotFound, status, "%+v", a)
		require.Equal(t, "OBJECT_NOT_FOUND", a.Code)
		require.True(t, a.Sent)
	})
	t.Run("not an update", func(t *testing.T) {
		for name, body := range map[string]string{
			"not JSON":      "{",
			"unknown field": `{"nickname":"a"}`,
			"too large":     `{"name":"` + strings.Repeat("a", maxBody) + `"}`,
		} {
			status, a := post(t, "/profiles/"+user, "", body)
			require.Equal(t, http.StatusBadRequest, status, name)
			require.Equal(t, "BAD_REQUEST", a.Code, name)
		}
		status, a := post(t, "/profiles/"+user, strings.Repeat("k", 300), update)
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, a.Message, "Idempotency-Key")
	})
}
