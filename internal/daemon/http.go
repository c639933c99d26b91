package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onec-connect/connect-bridge/internal/status"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// readiness is a part of the process that may not be ready: the worker,
// the feeds, the exports.
type readiness interface{ Ready() error }

// handler serves the worker's /healthz and /metrics, a /readyz that is
// ready only when every part is (the worker, then the others), and the
// status page (/ and /status.json) read from reg, when reg can be read.
func handler(w *worker.Worker, reg prometheus.Registerer, parts ...readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", w.Handler())
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		for _, p := range append([]readiness{w}, parts...) {
			if err := p.Ready(); err != nil {
				http.Error(rw, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	if g, ok := reg.(prometheus.Gatherer); ok {
		page := status.Handler(g, nil)
		mux.Handle("GET /{$}", page)
		mux.Handle("GET /status.json", page)
	}
	return mux
}
