package metrics_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/metrics"
)

// setup returns a fresh registry; every test gets its own.
func setup(t *testing.T) *metrics.Registry {
	t.Helper()
	return metrics.NewRegistry()
}

// render returns the registry's exposition text, checked by the validator.
func render(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	_, err = parseExposition(buf.String())
	require.NoError(t, err, "output:\n%s", buf.String())
	return buf.String()
}

// goldenRegistry has one family of every kind, with series created out of
// order so that sorting shows.
func goldenRegistry(t *testing.T) *metrics.Registry {
	r := setup(t)
	cmds := r.Counter("bridge_commands_total", "Commands handled, by operation and outcome.", "op", "outcome")
	cmds.With("CreateTicket", "nak").Inc()
	cmds.With("CreateTicket", "ack").Add(3)
	cmds.With("AddComment", "ack").Add(0.5)
	r.Counter("bridge_errors_total", "Errors by kind.", "kind") // no series yet
	r.Gauge("bridge_up", "Whether the worker is connected to NATS.").With().Set(1)
	r.GaugeFunc("bridge_queue_depth", "Commands waiting, by operation.", []string{"op"}, func() []metrics.Sample {
		return []metrics.Sample{
			{Labels: []string{"CreateTicket"}, Value: 7},
			{Labels: []string{"AddComment"}, Value: 0},
		}
	})
	lat := r.Histogram("bridge_call_seconds", "SOAP call latency.", []float64{0.25, 0.5, 1}, "op")
	for _, v := range []float64{0.125, 0.25, 0.75, 2} {
		lat.With("CreateTicket").Observe(v)
	}
	lat.With("AddComment") // exported with zero counts
	return r
}

const golden = `# HELP bridge_call_seconds SOAP call latency.
# TYPE bridge_call_seconds histogram
bridge_call_seconds_bucket{op="AddComment",le="0.25"} 0
bridge_call_seconds_bucket{op="AddComment",le="0.5"} 0
bridge_call_seconds_bucket{op="AddComment",le="1"} 0
bridge_call_seconds_bucket{op="AddComment",le="+Inf"} 0
bridge_call_seconds_sum{op="AddComment"} 0
bridge_call_seconds_count{op="AddComment"} 0
bridge_call_seconds_bucket{op="CreateTicket",le="0.25"} 2
bridge_call_seconds_bucket{op="CreateTicket",le="0.5"} 2
bridge_call_seconds_bucket{op="CreateTicket",le="1"} 3
bridge_call_seconds_bucket{op="CreateTicket",le="+Inf"} 4
bridge_call_seconds_sum{op="CreateTicket"} 3.125
bridge_call_seconds_count{op="CreateTicket"} 4
# HELP bridge_commands_total Commands handled, by operation and outcome.
# TYPE bridge_commands_total counter
bridge_commands_total{op="AddComment",outcome="ack"} 0.5
bridge_commands_total{op="CreateTicket",outcome="ack"} 3
bridge_commands_total{op="CreateTicket",outcome="nak"} 1
# HELP bridge_errors_total Errors by kind.
# TYPE bridge_errors_total counter
# HELP bridge_queue_depth Commands waiting, by operation.
# TYPE bridge_queue_depth gauge
bridge_queue_depth{op="AddComment"} 0
bridge_queue_depth{op="CreateTicket"} 7
# HELP bridge_up Whether the worker is connected to NATS.
# TYPE bridge_up gauge
bridge_up 1
`

func TestWriteToGolden(t *testing.T) {
	t.Parallel()
	r := goldenRegistry(t)
	require.Equal(t, golden, render(t, r))
	// Rendering twice gives the same text: scraping changes nothing.
	require.Equal(t, golden, render(t, r))
}

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		fail       bool // register a GaugeFunc that returns a bad sample
		wantStatus int
		wantBody   string
		wantType   string
	}{
		{name: "GET", method: http.MethodGet, wantStatus: 200, wantBody: golden, wantType: metrics.ContentType},
		{name: "HEAD", method: http.MethodHead, wantStatus: 200, wantBody: "", wantType: metrics.ContentType},
		{name: "POST", method: http.MethodPost, wantStatus: 405, wantBody: "method not allowed\n"},
		{name: "scrape error", method: http.MethodGet, fail: true, wantStatus: 500,
			wantBody: `metrics: gauge func "zz_bad": sample 0 has 0 label values, want 1 (op)` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := goldenRegistry(t)
			if tt.fail {
				r.GaugeFunc("zz_bad", "Bad.", []string{"op"}, func() []metrics.Sample {
					return []metrics.Sample{{Value: 1}}
				})
			}
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, "/metrics", nil))
			require.Equal(t, tt.wantStatus, rec.Code)
			require.Equal(t, tt.wantBody, rec.Body.String())
			if tt.wantType != "" {
				require.Equal(t, tt.wantType, rec.Header().Get("Content-Type"))
				require.Equal(t, fmt.Sprint(len(golden)), rec.Header().Get("Content-Length"))
			}
			if tt.wantStatus == 405 {
				require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestLabelValueEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, want string
	}{
		{"plain", "CreateTicket", `x_total{v="CreateTicket"} 1`},
		{"empty", "", `x_total{v=""} 1`},
		{"backslash", `C:\1C\base`, `x_total{v="C:\\1C\\base"} 1`},
		{"double quote", `say "hi"`, `x_total{v="say \"hi\""} 1`},
		{"newline", "a\nb", `x_total{v="a\nb"} 1`},
		{"all three", "\\\"\n", `x_total{v="\\\"\n"} 1`},
		{"literal backslash n", `a\nb`, `x_total{v="a\\nb"} 1`},
		{"tab and braces untouched", "a\t{b},c=d", "x_total{v=\"a\t{b},c=d\"} 1"},
		{"cyrillic", "Заявка", `x_total{v="Заявка"} 1`},
		{"invalid UTF-8", "a\xffb", `x_total{v="a` + "\uFFFD" + `b"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			r.Counter("x_total", "X.", "v").With(tt.value).Inc()
			out := render(t, r)
			require.Equal(t, "# HELP x_total X.\n# TYPE x_total counter\n"+tt.want+"\n", out)
		})
	}
}

func TestHelpEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, help, want string
	}{
		{"plain", "Commands handled.", "Commands handled."},
		{"backslash", `C:\path`, `C:\\path`},
		{"newline", "two\nlines", `two\nlines`},
		{"double quote kept", `a "quoted" word`, `a "quoted" word`},
		{"invalid UTF-8", "bad \xc3 byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			r.Gauge("g", tt.help)
			require.Equal(t, "# HELP g "+tt.want+"\n# TYPE g gauge\ng 0\n", render(t, r))
		})
	}
}

func TestFloatFormatting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value float64
		want  string
	}{
		{0, "0"},
		{1, "1"},
		{-1, "-1"},
		{1e6, "1000000"},
		{-123456789012, "-123456789012"},
		{1<<53 - 1, "9007199254740991"},
		{1 << 53, "9.007199254740992e+15"},
		{1e20, "1e+20"},
		{0.1, "0.1"},
		{0.5, "0.5"},
		{123456.789, "123456.789"},
		{1.5e-7, "1.5e-07"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.SmallestNonzeroFloat64, "5e-324"},
		{math.Inf(+1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			r.Gauge("g", "G.").With().Set(tt.value)
			require.Equal(t, "# HELP g G.\n# TYPE g gauge\ng "+tt.want+"\n", render(t, r))
		})
	}
}

func TestHistogramBucketBoundaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		observe []float64
		want    string // bucket counts for le=1,2,4,+Inf, then _sum
	}{
		{"none", nil, "0 0 0 0 sum=0"},
		{"on the bound counts in that bucket", []float64{1, 2, 4}, "1 2 3 3 sum=7"},
		{"just above a bound", []float64{math.Nextafter(1, 2)}, "0 1 1 1 sum=1.0000000000000002"},
		{"below the first bound", []float64{-5, 0}, "2 2 2 2 sum=-5"},
		{"above the last bound", []float64{100}, "0 0 0 1 sum=100"},
		{"+Inf", []float64{math.Inf(+1)}, "0 0 0 1 sum=+Inf"},
		{"-Inf", []float64{math.Inf(-1)}, "1 1 1 1 sum=-Inf"},
		{"NaN goes to +Inf", []float64{1, math.NaN()}, "1 1 1 2 sum=NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			h := r.Histogram("h", "H.", []float64{1, 2, 4, math.Inf(+1)}).With()
			for _, v := range tt.observe {
				h.Observe(v)
			}
			var got []string
			for _, line := range strings.Split(render(t, r), "\n") {
				switch {
				case strings.HasPrefix(line, "h_bucket"):
					got = append(got, line[strings.LastIndexByte(line, ' ')+1:])
				case strings.HasPrefix(line, "h_sum "):
					got = append(got, "sum="+strings.TrimPrefix(line, "h_sum "))
				}
			}
			require.Equal(t, tt.want, strings.Join(got, " "))
		})
	}
}

func TestWithSeries(t *testing.T) {
	t.Parallel()
	r := setup(t)
	v := r.Counter("c_total", "C.", "a", "b")

	// The same values give the same series; the caller's strings may change
	// afterwards without affecting it.
	buf := []byte("op")
	c1 := v.With(string(buf), "x")
	buf[0] = 'X'
	require.Same(t, c1, v.With("op", "x"))

	// Keys cannot be confused by moving bytes between values.
	require.NotSame(t, v.With("ab", "c"), v.With("a", "bc"))
	require.NotSame(t, v.With("", "x"), v.With("x", ""))

	// Raw values that render the same share one series.
	require.Same(t, v.With("\xff", "y"), v.With("\xfe", "y"))
	require.Same(t, v.With("\xff", "y"), v.With("\uFFFD", "y"))

	// A single-label vector keys by the value itself.
	one := r.Gauge("g", "G.", "op")
	require.Same(t, one.With("a"), one.With("a"))
	require.NotSame(t, one.With("a"), one.With("b"))

	require.Equal(t, `# HELP c_total C.
# TYPE c_total counter
c_total{a="",b="x"} 0
c_total{a="a",b="bc"} 0
c_total{a="ab",b="c"} 0
c_total{a="op",b="x"} 0
c_total{a="x",b=""} 0
c_total{a="`+"\uFFFD"+`",b="y"} 0
# HELP g G.
# TYPE g gauge
g{op="a"} 0
g{op="b"} 0
`, render(t, r))
}

func TestCounterAndGaugeValues(t *testing.T) {
	t.Parallel()
	r := setup(t)
	c := r.Counter("c_total", "C.").With()
	c.Inc()
	c.Add(2)
	c.Add(0.25)
	c.Add(0)
	require.Equal(t, 3.25, c.Value())
	c.Add(math.Inf(+1))
	require.Equal(t, math.Inf(+1), c.Value())

	g := r.Gauge("g", "G.").With()
	g.Set(10)
	g.Inc()
	g.Dec()
	g.Dec()
	g.Add(-0.5)
	g.Add(2.25)
	require.Equal(t, 10.75, g.Value())
}

func TestGaugeFunc(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		labels  []string
		samples []metrics.Sample
		want    string // samples, or the error
		wantErr bool
	}{
		{name: "no samples", labels: []string{"op"}, want: ""},
		{name: "no labels", samples: []metrics.Sample{{Value: 3}}, want: "f 3\n"},
		{
			name:   "sorted by all label values",
			labels: []string{"op", "state"},
			samples: []metrics.Sample{
				{Labels: []string{"b", "a"}, Value: 1},
				{Labels: []string{"a", "z"}, Value: 2},
				{Labels: []string{"a", "b"}, Value: math.NaN()},
			},
			want: "f{op=\"a\",state=\"b\"} NaN\nf{op=\"a\",state=\"z\"} 2\nf{op=\"b\",state=\"a\"} 1\n",
		},
		{
			name:    "too few label values",
			labels:  []string{"op", "state"},
			samples: []metrics.Sample{{Labels: []string{"a", "b"}}, {Labels: []string{"a"}}},
			want:    `metrics: gauge func "f": sample 1 has 1 label values, want 2 (op, state)`,
			wantErr: true,
		},
		{
			name:    "labels on a gauge without labels",
			samples: []metrics.Sample{{Labels: []string{"a"}}},
			want:    `metrics: gauge func "f": sample 0 has 1 label values, want 0 ()`,
			wantErr: true,
		},
		{
			name:    "same labels twice",
			labels:  []string{"op"},
			samples: []metrics.Sample{{Labels: []string{"a"}}, {Labels: []string{"b"}}, {Labels: []string{"a"}}},
			want:    `metrics: gauge func "f": two samples with label values ["a"]`,
			wantErr: true,
		},
		{
			name:    "same labels after UTF-8 repair",
			labels:  []string{"op"},
			samples: []metrics.Sample{{Labels: []string{"\xff"}}, {Labels: []string{"\xfe"}}},
			want:    `metrics: gauge func "f": two samples with label values ["` + "\uFFFD" + `"]`,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			r.Gauge("a", "Before f.").With().Set(1)
			input := append([]metrics.Sample(nil), tt.samples...)
			r.GaugeFunc("f", "F.", tt.labels, func() []metrics.Sample { return input })
			var buf bytes.Buffer
			n, err := r.WriteTo(&buf)
			if tt.wantErr {
				require.EqualError(t, err, tt.want)
				require.Zero(t, n)
				require.Zero(t, buf.Len(), "nothing is written on error")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "# HELP a Before f.\n# TYPE a gauge\na 1\n# HELP f F.\n# TYPE f gauge\n"+tt.want, buf.String())
			for i := range input {
				require.Equal(t, tt.samples[i].Labels, input[i].Labels, "the callback's slice is not reordered")
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteToWriterError(t *testing.T) {
	t.Parallel()
	r := goldenRegistry(t)
	_, err := r.WriteTo(failWriter{})
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

func TestZeroRegistryIsUsable(t *testing.T) {
	t.Parallel()
	var r metrics.Registry
	r.Counter("c_total", "C.").With().Inc()
	require.Equal(t, "# HELP c_total C.\n# TYPE c_total counter\nc_total 1\n", render(t, &r))
	require.Panics(t, func() { r.Gauge("c_total", "Again.") })
}

func TestEmptyRegistry(t *testing.T) {
	t.Parallel()
	require.Empty(t, render(t, setup(t)))
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	r := setup(t)
	// Accepted: colons in metric names, leading underscore, digits after
	// the first character, upper case.
	require.NotPanics(t, func() {
		r.Counter("job:requests:rate5m", "Recording-rule style.", "_private", "Op2")
		r.Gauge("_x", "Leading underscore.", "a")
		r.Histogram("Latency9", "Upper case.", []float64{1}, "LE") // only "le" is reserved
	})
	render(t, r)
}

func TestPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(r *metrics.Registry)
		want string
	}{
		{"metric name with dash", func(r *metrics.Registry) { r.Counter("bad-name", "H.") },
			`metrics: counter "bad-name": invalid metric name: want [a-zA-Z_:][a-zA-Z0-9_:]* without a "__" prefix`},
		{"metric name with leading digit", func(r *metrics.Registry) { r.Gauge("1abc", "H.") },
			`metrics: gauge "1abc": invalid metric name`},
		{"empty metric name", func(r *metrics.Registry) { r.Histogram("", "H.", []float64{1}) },
			`metrics: histogram "": invalid metric name`},
		{"reserved metric name", func(r *metrics.Registry) { r.Gauge("__name", "H.") },
			`metrics: gauge "__name": invalid metric name`},
		{"metric name with space", func(r *metrics.Registry) { r.Counter("a b", "H.") },
			`metrics: counter "a b": invalid metric name`},
		{"label name with colon", func(r *metrics.Registry) { r.Counter("c", "H.", "a:b") },
			`metrics: counter "c": invalid label name "a:b": want [a-zA-Z_][a-zA-Z0-9_]* without a "__" prefix`},
		{"label name with leading digit", func(r *metrics.Registry) { r.Gauge("g", "H.", "0a") },
			`metrics: gauge "g": invalid label name "0a"`},
		{"reserved label name", func(r *metrics.Registry) { r.Counter("c", "H.", "__meta") },
			`metrics: counter "c": invalid label name "__meta"`},
		{"empty label name", func(r *metrics.Registry) { r.GaugeFunc("f", "H.", []string{""}, nil) },
			`metrics: gauge "f": invalid label name ""`},
		{"repeated label name", func(r *metrics.Registry) { r.Counter("c", "H.", "op", "code", "op") },
			`metrics: counter "c": label name "op" repeats`},
		{"empty help", func(r *metrics.Registry) { r.Counter("c", "") },
			`metrics: counter "c": empty help text`},
		{"nil gauge func", func(r *metrics.Registry) { r.GaugeFunc("f", "H.", nil, nil) },
			`metrics: gauge func "f": nil func`},
		{"histogram le label", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{1}, "op", "le") },
			`metrics: histogram "h": label name "le" is reserved for buckets`},
		{"histogram without buckets", func(r *metrics.Registry) { r.Histogram("h", "H.", nil) },
			`metrics: histogram "h": no finite buckets`},
		{"histogram with only +Inf", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{math.Inf(+1)}) },
			`metrics: histogram "h": no finite buckets`},
		{"histogram unsorted", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{1, 3, 2}) },
			`metrics: histogram "h": buckets not strictly increasing at 2 (2 after 3)`},
		{"histogram repeated bound", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{1, 1}) },
			`metrics: histogram "h": buckets not strictly increasing at 1 (1 after 1)`},
		{"histogram NaN bound", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{1, math.NaN()}) },
			`metrics: histogram "h": bucket 1 is NaN`},
		{"histogram +Inf not last", func(r *metrics.Registry) {
			r.Histogram("h", "H.", []float64{1, math.Inf(+1), math.Inf(+1)})
		}, `metrics: histogram "h": bucket 1 is +Inf`},
		{"same counter twice", func(r *metrics.Registry) {
			r.Counter("c_total", "H.")
			r.Counter("c_total", "H.", "op")
		}, `metrics: counter "c_total": already registered (as a counter)`},
		{"gauge over counter", func(r *metrics.Registry) {
			r.Counter("x", "H.")
			r.Gauge("x", "H.")
		}, `metrics: gauge "x": already registered (as a counter)`},
		{"gauge func over gauge", func(r *metrics.Registry) {
			r.Gauge("x", "H.")
			r.GaugeFunc("x", "H.", nil, func() []metrics.Sample { return nil })
		}, `metrics: gauge "x": already registered (as a gauge)`},
		{"histogram over counter", func(r *metrics.Registry) {
			r.Counter("x", "H.")
			r.Histogram("x", "H.", []float64{1})
		}, `metrics: histogram "x": already registered (as a counter)`},
		{"counter named like a histogram's _count", func(r *metrics.Registry) {
			r.Histogram("lat", "H.", []float64{1})
			r.Counter("lat_count", "H.")
		}, `metrics: counter "lat_count": name "lat_count" is already written by histogram "lat"`},
		{"histogram whose _sum is taken", func(r *metrics.Registry) {
			r.Gauge("lat_sum", "H.")
			r.Histogram("lat", "H.", []float64{1})
		}, `metrics: histogram "lat": name "lat_sum" is already written by gauge "lat_sum"`},
		{"histogram whose _bucket is another's name", func(r *metrics.Registry) {
			r.Histogram("a_bucket", "H.", []float64{1})
			r.Histogram("a", "H.", []float64{1})
		}, `metrics: histogram "a": name "a_bucket" is already written by histogram "a_bucket"`},
		{"counter With too few", func(r *metrics.Registry) { r.Counter("c", "H.", "op", "code").With("a") },
			`metrics: counter "c": With got 1 label values, want 2 (op, code)`},
		{"counter With too many", func(r *metrics.Registry) { r.Counter("c", "H.").With("a") },
			`metrics: counter "c": With got 1 label values, want 0 ()`},
		{"gauge With none", func(r *metrics.Registry) { r.Gauge("g", "H.", "op").With() },
			`metrics: gauge "g": With got 0 label values, want 1 (op)`},
		{"histogram With too many", func(r *metrics.Registry) { r.Histogram("h", "H.", []float64{1}, "op").With("a", "b") },
			`metrics: histogram "h": With got 2 label values, want 1 (op)`},
		{"counter Add negative", func(r *metrics.Registry) { r.Counter("c", "H.").With().Add(-1) },
			`metrics: counter Add(-1): counters cannot decrease`},
		{"counter Add NaN", func(r *metrics.Registry) { r.Counter("c", "H.").With().Add(math.NaN()) },
			`metrics: counter Add(NaN): counters cannot decrease`},
		{"ExponentialBuckets n=0", func(*metrics.Registry) { metrics.ExponentialBuckets(1, 2, 0) },
			`metrics: ExponentialBuckets(1, 2, 0): want start > 0, factor > 1, n >= 1`},
		{"ExponentialBuckets start=0", func(*metrics.Registry) { metrics.ExponentialBuckets(0, 2, 3) },
			`metrics: ExponentialBuckets(0, 2, 3)`},
		{"ExponentialBuckets factor=1", func(*metrics.Registry) { metrics.ExponentialBuckets(1, 1, 3) },
			`metrics: ExponentialBuckets(1, 1, 3)`},
		{"LinearBuckets width=0", func(*metrics.Registry) { metrics.LinearBuckets(0, 0, 3) },
			`metrics: LinearBuckets(0, 0, 3): want finite start, width > 0, n >= 1`},
		{"LinearBuckets n<0", func(*metrics.Registry) { metrics.LinearBuckets(0, 1, -1) },
			`metrics: LinearBuckets(0, 1, -1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setup(t)
			var got any
			func() {
				defer func() { got = recover() }()
				tt.do(r)
			}()
			require.NotNil(t, got, "no panic")
			msg, ok := got.(string)
			require.True(t, ok, "panic value %T %v is not a string", got, got)
			require.True(t, strings.HasPrefix(msg, tt.want), "panic %q\nwant prefix %q", msg, tt.want)
		})
	}
}

// TestFailedRegistrationLeavesNoTrace makes sure a panicking registration
// does not half-register its family.
func TestFailedRegistrationLeavesNoTrace(t *testing.T) {
	t.Parallel()
	r := setup(t)
	r.Gauge("lat_sum", "H.")
	require.Panics(t, func() { r.Histogram("lat", "H.", []float64{1}) })
	require.NotPanics(t, func() { r.Counter("lat", "H.") })
	require.NotPanics(t, func() { r.Counter("lat_bucket", "H.") })
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  []float64
		want []float64
	}{
		{"exponential", metrics.ExponentialBuckets(0.001, 2, 5), []float64{0.001, 0.002, 0.004, 0.008, 0.016}},
		{"exponential x10", metrics.ExponentialBuckets(1, 10, 4), []float64{1, 10, 100, 1000}},
		{"exponential one", metrics.ExponentialBuckets(5, 3, 1), []float64{5}},
		{"linear", metrics.LinearBuckets(-1, 0.5, 5), []float64{-1, -0.5, 0, 0.5, 1}},
		{"linear one", metrics.LinearBuckets(7, 1, 1), []float64{7}},
		{"linear no drift", metrics.LinearBuckets(0, 0.1, 11)[10:], []float64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got)
		})
	}
}

// TestRegistrationCopiesSlices makes sure the caller's label and bucket
// slices can change after registration without effect.
func TestRegistrationCopiesSlices(t *testing.T) {
	t.Parallel()
	r := setup(t)
	labels := []string{"op"}
	buckets := []float64{1, 2}
	h := r.Histogram("h", "H.", buckets, labels...)
	g := []string{"op"}
	r.GaugeFunc("f", "F.", g, func() []metrics.Sample { return []metrics.Sample{{Labels: []string{"a"}, Value: 1}} })
	labels[0], buckets[0], g[0] = "X", 100, "Y"
	h.With("a").Observe(1)
	out := render(t, r)
	require.Contains(t, out, `h_bucket{op="a",le="1"} 1`)
	require.Contains(t, out, `f{op="a"} 1`)
}

// TestFastPathDoesNotAllocate checks the promise made in the package
// documentation: updates through a kept series, and With on an existing
// series, allocate nothing.
func TestFastPathDoesNotAllocate(t *testing.T) {
	r := setup(t) // not parallel: AllocsPerRun counts the whole process
	cv := r.Counter("c_total", "C.", "op", "outcome")
	c := cv.With("CreateTicket", "ack")
	g := r.Gauge("g", "G.", "op").With("CreateTicket")
	hv := r.Histogram("h", "H.", metrics.ExponentialBuckets(0.001, 2, 16), "op")
	h := hv.With("CreateTicket")
	tests := []struct {
		name string
		do   func()
	}{
		{"Counter.Inc", func() { c.Inc() }},
		{"Counter.Add", func() { c.Add(0.5) }},
		{"Gauge.Add", func() { g.Add(1) }},
		{"Gauge.Set", func() { g.Set(1) }},
		{"Histogram.Observe", func() { h.Observe(0.042) }},
		{"CounterVec.With.Inc", func() { cv.With("CreateTicket", "ack").Inc() }},
		{"HistogramVec.With.Observe", func() { hv.With("CreateTicket").Observe(0.042) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Zero(t, testing.AllocsPerRun(1000, tt.do))
		})
	}
}
