package status

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed page.html
var pageHTML string

// funcs are the template's helpers.
var funcs = template.FuncMap{
	"num": func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"pct": func(q Quota) string { return strconv.FormatFloat(q.Percent(), 'f', 1, 64) },
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("15:04:05 MST")
	},
	"dur": func(s float64) string { return (time.Duration(s) * time.Second).String() },
}

var page = template.Must(template.New("status").Funcs(funcs).Parse(pageHTML))

// Handler serves the page at / and its data at /status.json, read from
// g at each request; now is the clock (nil: the real one).
func Handler(g prometheus.Gatherer, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, err := Gather(g, now())
		if err != nil {
			http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var b bytes.Buffer
		if err := page.Execute(&b, s); err != nil {
			http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Nothing from elsewhere: the script and styles are inline.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := Gather(g, now())
		if err != nil {
			http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s)
	})
	return mux
}
