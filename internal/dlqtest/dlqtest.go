// Package dlqtest runs what the dead-letter tools are tested against: the
// real worker on an embedded JetStream server, calling the sandbox
// through a switch that makes the API fail on demand, so that commands
// end in the dead-letter stream for real, and work once it is opened.
package dlqtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Mode is how the switch answers the worker's calls.
type Mode int

// The modes.
const (
	// Open passes calls to the sandbox.
	Open Mode = iota
	// Unavailable answers HTTP 503: the call was not processed, so it is
	// retried, and ends TRANSPORT_ERROR when the attempts run out.
	Unavailable
	// Broken answers HTTP 500 without a SOAP fault: the call may have
	// been processed, so an …Add ends UNKNOWN_OUTCOME at once (and the
	// others are retried, as for Unavailable).
	Broken
)

// Switch sits in front of the sandbox.
type Switch struct {
	mu      sync.Mutex // protects mode, refused
	mode    Mode
	refused int
	next    http.Handler
}

// Set changes how calls are answered from now on.
func (s *Switch) Set(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// Refused is how many calls the switch answered itself.
func (s *Switch) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// ServeHTTP answers as the mode says.
func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mode := s.mode
	if mode != Open {
		s.refused++
	}
	s.mu.Unlock()
	switch mode {
	case Unavailable:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case Broken:
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		s.next.ServeHTTP(w, r)
	}
}

// Bundle is a running worker, its server and its sandbox.
type Bundle struct {
	Srv    *server.Server
	Emu    *emulator.Server
	Switch *Switch
}

// Start starts the server, the sandbox (limits off) behind a switch in
// mode, and a worker whose packets wait 50ms, whose commands get two
// attempts 10ms apart, and stops them when the test ends.
func Start(t testing.TB, mode Mode) *Bundle {
	t.Helper()
	b := &Bundle{Srv: natstest.Server(t)}
	emu, err := emulator.New(emulator.Config{Seed: 1, Limits: map[string]int{"*": 1 << 30}})
	require.NoError(t, err)
	b.Emu = emu
	b.Switch = &Switch{mode: mode, next: emu}
	hs := httptest.NewServer(b.Switch)
	t.Cleanup(hs.Close)
	api, err := soap.New(soap.Config{URL: hs.URL + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	lim, err := quota.NewLocal(quota.Config{
		Windows: quota.Windows{Length: time.Hour, Guard: -1},
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{"*": 1 << 30}},
	})
	require.NoError(t, err)
	wnc, _ := natstest.Connect(t, b.Srv.ClientURL())
	w, err := worker.New(worker.Config{
		Conn: wnc, API: api, Limiter: lim,
		Defaults:       worker.OpSettings{MaxWait: worker.Duration(50 * time.Millisecond), MaxAttempts: 2},
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		FetchWait: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	wctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-stopped)
	})
	deadline := time.Now().Add(time.Minute)
	for w.Ready() != nil {
		require.True(t, time.Now().Before(deadline), "worker not ready: %v", w.Ready())
		time.Sleep(10 * time.Millisecond) // polling readiness: nothing to wait on
	}
	return b
}
