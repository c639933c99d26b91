package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the Content-Type of the text exposition format that
// WriteTo writes and Handler serves.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types, as written on # TYPE lines.
const (
	kindCounter   = "counter"
	kindGauge     = "gauge"
	kindHistogram = "histogram"
)

// Registry holds metric families and renders them. Create one with
// NewRegistry (the zero value is an empty registry too), register every
// family at start-up, and serve it with Handler. It is safe for concurrent
// use; registering is not meant for hot paths, updating series is. A
// Registry must not be copied after first use.
type Registry struct {
	mu sync.Mutex // protects families and names
	// families is sorted by name.
	families []*family
	// names maps every family name and every sample name written by a
	// family (a histogram "x" writes x_bucket, x_sum and x_count) to that
	// family, so that no two families can produce the same line name.
	names map[string]*family
}

// family is one registered metric family.
type family struct {
	name   string
	kind   string
	header []byte // the # HELP and # TYPE lines, rendered at registration
	c      collector
}

// collector writes the sample lines of one family.
type collector interface {
	appendSamples(b []byte) ([]byte, error)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{names: make(map[string]*family)}
}

// Counter registers a counter family and returns it. Label names are fixed
// here; every series supplies one value per name, in this order.
//
// It panics if name or a label name is invalid, a label name repeats, help
// is empty, or name (or a sample name it would write) is already taken.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	labels = checkFamily(kindCounter, name, help, labels)
	v := &CounterVec{}
	v.vec.setup(kindCounter, name, labels, nil)
	r.add(kindCounter, name, help, v)
	return v
}

// Gauge registers a gauge family and returns it. Label names are fixed
// here; every series supplies one value per name, in this order.
//
// It panics under the same conditions as Counter.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	labels = checkFamily(kindGauge, name, help, labels)
	v := &GaugeVec{}
	v.vec.setup(kindGauge, name, labels, nil)
	r.add(kindGauge, name, help, v)
	return v
}

// GaugeFunc registers a gauge family whose series are computed at scrape
// time: fn is called once per scrape and returns one Sample per series,
// each with one label value per name in labels (nil for none), in any
// order. Use it for values that already live elsewhere, such as the queue
// depth of each operation.
//
// fn is called with no registry lock held, possibly from several scrapes at
// once, and must be safe for that. If it returns a sample with the wrong
// number of label values, or two samples with the same label values, the
// scrape fails (WriteTo returns an error, Handler answers 500).
//
// It panics under the same conditions as Counter, and if fn is nil.
func (r *Registry) GaugeFunc(name, help string, labels []string, fn func() []Sample) {
	labels = checkFamily(kindGauge, name, help, labels)
	if fn == nil {
		panic(fmt.Sprintf("metrics: gauge func %q: nil func", name))
	}
	r.add(kindGauge, name, help, &gaugeFunc{name: name, labels: labels, fn: fn})
}

// Histogram registers a histogram family with the given bucket upper bounds
// and returns it. buckets must be strictly increasing and hold at least one
// finite bound; the +Inf bucket is always added (a trailing +Inf in buckets
// is accepted and ignored). buckets is copied. Label names are fixed here;
// every series supplies one value per name, in this order.
//
// It panics under the same conditions as Counter, if buckets are invalid,
// and if a label is named "le", which the histogram uses itself.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	labels = checkFamily(kindHistogram, name, help, labels)
	if slices.Contains(labels, "le") {
		panic(fmt.Sprintf(`metrics: histogram %q: label name "le" is reserved for buckets`, name))
	}
	bounds := checkBuckets(name, buckets)
	v := &HistogramVec{bounds: bounds}
	v.vec.setup(kindHistogram, name, labels, func(h *Histogram) {
		h.bounds = bounds
		h.counts = make([]atomic.Uint64, len(bounds)+1)
	})
	r.add(kindHistogram, name, help, v)
	return v
}

// WriteTo writes every family in the text exposition format, families
// sorted by name. The whole output is rendered before anything is written,
// so a GaugeFunc error writes nothing. It implements io.WriterTo.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	b, err := r.appendText(nil)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// Handler returns an http.Handler that serves the registry to GET and HEAD
// requests with Content-Type ContentType. Other methods get 405. A scrape
// error (see GaugeFunc) is answered with 500 and the error text.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := r.appendText(nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Set("Content-Length", strconv.Itoa(len(b)))
		if req.Method == http.MethodHead {
			return
		}
		// A write error means the scraper went away; there is no one left
		// to tell.
		_, _ = w.Write(b)
	})
}

// appendText renders the registry. It holds the registry lock only to copy
// the family list, so GaugeFunc callbacks and slow vectors never block
// registration or each other.
func (r *Registry) appendText(b []byte) ([]byte, error) {
	r.mu.Lock()
	families := slices.Clone(r.families)
	r.mu.Unlock()
	for _, f := range families {
		b = append(b, f.header...)
		var err error
		if b, err = f.c.appendSamples(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// add registers a family built by the caller, after checkFamily.
func (r *Registry) add(kind, name, help string, c collector) {
	f := &family{name: name, kind: kind, c: c}
	f.header = fmt.Appendf(nil, "# HELP %s %s\n# TYPE %s %s\n", name, appendHelp(nil, help), name, kind)

	taken := []string{name}
	if kind == kindHistogram {
		taken = append(taken, name+"_bucket", name+"_sum", name+"_count")
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil { // a zero Registry is usable too
		r.names = make(map[string]*family)
	}
	for _, n := range taken {
		if other := r.names[n]; other != nil {
			if other.name == name {
				panic(fmt.Sprintf("metrics: %s %q: already registered (as a %s)", kind, name, other.kind))
			}
			panic(fmt.Sprintf("metrics: %s %q: name %q is already written by %s %q",
				kind, name, n, other.kind, other.name))
		}
	}
	for _, n := range taken {
		r.names[n] = f
	}
	i, _ := slices.BinarySearchFunc(r.families, name, func(f *family, name string) int {
		return strings.Compare(f.name, name)
	})
	r.families = slices.Insert(r.families, i, f)
}

// checkFamily panics unless name, help and labels make a valid family, and
// returns a copy of labels that the caller's slice cannot change.
func checkFamily(kind, name, help string, labels []string) []string {
	if !validMetricName(name) {
		panic(fmt.Sprintf(`metrics: %s %q: invalid metric name: want [a-zA-Z_:][a-zA-Z0-9_:]* without a "__" prefix`, kind, name))
	}
	if help == "" {
		panic(fmt.Sprintf("metrics: %s %q: empty help text", kind, name))
	}
	for i, l := range labels {
		if !validLabelName(l) {
			panic(fmt.Sprintf(`metrics: %s %q: invalid label name %q: want [a-zA-Z_][a-zA-Z0-9_]* without a "__" prefix`, kind, name, l))
		}
		if slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("metrics: %s %q: label name %q repeats", kind, name, l))
		}
	}
	return slices.Clone(labels)
}
