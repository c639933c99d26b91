package benchrun

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormatTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, FormatTable(&b, []Row{
		{Line: "1", Metric: "broker", Value: "10 commands/s"},
		{Line: "2", Metric: "worker", Value: "5 | 50%", Target: "≥ 50%", Met: "yes"},
	}))
	want := "" +
		"| # | metric | value         | target | met |\n" +
		"|---|--------|---------------|--------|-----|\n" +
		"| 1 | broker | 10 commands/s | —      | n/a |\n" +
		"| 2 | worker | 5 \\| 50%      | ≥ 50%  | yes |\n"
	require.Equal(t, want, b.String())
}

func TestWriteReportHeadsTheTableWithTheMachine(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	m := Meta{Date: time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC), Cores: 2, GOMAXPROCS: 2, GoVersion: "go1.26.8",
		OS: "linux", Arch: "amd64", Commands: 100000, Elapsed: 5 * time.Minute}
	require.NoError(t, WriteReport(&b, m, []Row{{Line: "1", Metric: "m", Value: "v"}}, []string{"a note"}))
	out := b.String()
	for _, s := range []string{"2026-11-28 21:00 UTC", "2 cores, GOMAXPROCS 2, go1.26.8 linux/amd64", "N = 100000", "| 1 | m      | v     |", "- a note"} {
		require.Contains(t, out, s)
	}
	require.Equal(t, 1, strings.Count(out, "| # |"), "one table")
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // reversed: Percentile sorts
	}
	cases := []struct {
		name string
		xs   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of even count is the lower middle", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p50 of 100 is the 50th", hundred, 50, 50 * time.Millisecond},
		{"p100 is the largest", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the smallest", hundred, 0.001, time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			before := append([]time.Duration(nil), c.xs...)
			require.Equal(t, c.want, Percentile(c.xs, c.p))
			require.Equal(t, before, c.xs, "input left as it was")
		})
	}
}

func TestParseBench(t *testing.T) {
	t.Parallel()
	out := `goos: linux
goarch: amd64
pkg: github.com/onec-connect/connect-bridge/internal/soap
cpu: Intel(R) Xeon(R) Processor
BenchmarkEncodePacket100-2       	   12507	     90793 ns/op	 321.04 MB/s	      80 B/op	       1 allocs/op
BenchmarkDecodeRowResults100-2   	    2157	    538413 ns/op	  21.13 MB/s	  177288 B/op	    4575 allocs/op
BenchmarkWorkerThroughput/tuned-2	   30000	    212560 ns/op	      4697 commands/s	   35336 B/op	     439 allocs/op
BenchmarkNoProcs	10	5.5 ns/op
BenchmarkLogLine says something
PASS
ok  	github.com/onec-connect/connect-bridge/internal/soap	2.308s
`
	got, err := ParseBench(strings.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, []Bench{
		{Name: "BenchmarkEncodePacket100", Procs: 2, Iterations: 12507, NsPerOp: 90793, BytesPerOp: 80, AllocsPerOp: 1, Extra: map[string]float64{"MB/s": 321.04}},
		{Name: "BenchmarkDecodeRowResults100", Procs: 2, Iterations: 2157, NsPerOp: 538413, BytesPerOp: 177288, AllocsPerOp: 4575, Extra: map[string]float64{"MB/s": 21.13}},
		{Name: "BenchmarkWorkerThroughput/tuned", Procs: 2, Iterations: 30000, NsPerOp: 212560, BytesPerOp: 35336, AllocsPerOp: 439, Extra: map[string]float64{"commands/s": 4697}},
		{Name: "BenchmarkNoProcs", Procs: 1, Iterations: 10, NsPerOp: 5.5},
	}, got)

	_, err = ParseBench(strings.NewReader("BenchmarkX-2 10 abc ns/op\n"))
	require.Error(t, err, "a value that is not a number")
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	status := "Name:\tworker\nVmPeak:\t 1319816 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   36864 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatus([]byte(status))
	require.NoError(t, err)
	require.Equal(t, int64(36864<<10), rss)
	require.Equal(t, int64(40960<<10), hwm)
	_, _, err = parseStatus([]byte("Name:\tworker\n"))
	require.Error(t, err)
}

func TestParseGauge(t *testing.T) {
	t.Parallel()
	page := "# TYPE connect_worker_queue_depth gauge\n" +
		"connect_worker_queue_depth{op=\"ClientUserAdd\"} 0\n" +
		"connect_worker_queue_depth{op=\"ClientUserEdit\"} 512\n"
	got, err := parseGauge(page, `connect_worker_queue_depth{op="ClientUserEdit"}`)
	require.NoError(t, err)
	require.Equal(t, 512, got)
	_, err = parseGauge(page, `connect_worker_queue_depth{op="Nope"}`)
	require.Error(t, err)
}

func TestLineKeyOrdersLines(t *testing.T) {
	t.Parallel()
	got := []string{"8c", "10", "3b", "1", "3a", "2", "8a"}
	slices.SortFunc(got, func(a, b string) int { return strings.Compare(lineKey(a), lineKey(b)) })
	require.Equal(t, []string{"1", "2", "3a", "3b", "8a", "8c", "10"}, got)
}

func TestFormatCount(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -12345: "-12,345"} {
		require.Equal(t, want, formatCount(in), "%v", in)
	}
}

// TestDecodeNote: the decoder's note keeps the before/after figures and
// says whether this run's figures are material against a call's time.
func TestDecodeNote(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		rowResults, read100k time.Duration
		verdict              string
	}{
		{"fast enough", 300 * time.Microsecond, 700 * time.Millisecond, "It is not: encoding/xml stays"},
		{"a result table over 10% of a call", 3 * time.Millisecond, 700 * time.Millisecond, "In this run it is"},
		{"a read slower than the link", 300 * time.Microsecond, 4 * time.Second, "In this run it is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &runner{}
			r.decodeNote(tc.rowResults, tc.read100k)
			require.Len(t, r.notes, 2)
			require.Contains(t, r.notes[0].text, "56.3 µs → 339.6 µs/op")
			require.Contains(t, r.notes[0].text, "114.5 → 691.6 ms/op")
			require.Contains(t, r.notes[1].text, "assumed here at least 20ms a call")
			require.Contains(t, r.notes[1].text, tc.verdict)
		})
	}
}
