package benchrun

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is one line of the table: what was measured, what came out, what
// was wanted, and whether it was met.
type Row struct {
	// Line numbers the row after the harness's lines (1–7, 8 for the Go
	// benchmarks); several rows may share a line ("3a", "3b").
	Line   string
	Metric string
	Value  string
	// Target is empty when the line has no target; Met is then "n/a".
	Target string
	// Met is "yes", "no" or "n/a".
	Met string
}

// Meta describes the machine and the run, printed above the table.
type Meta struct {
	Date       time.Time
	Cores      int
	GOMAXPROCS int
	GoVersion  string
	OS, Arch   string
	Commands   int // N of lines 1–3a
	Quick      bool
	Elapsed    time.Duration
}

// met turns a comparison into the table's word.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// escapeCell keeps a value from breaking a Markdown table row.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// FormatTable writes rows as one Markdown table, columns padded so that
// it also reads as plain text on a terminal.
func FormatTable(w io.Writer, rows []Row) error {
	header := []string{"#", "metric", "value", "target", "met"}
	cells := [][]string{header}
	for _, r := range rows {
		target, ok := r.Target, r.Met
		if target == "" {
			target = "—"
		}
		if ok == "" {
			ok = "n/a"
		}
		cells = append(cells, []string{escapeCell(r.Line), escapeCell(r.Metric), escapeCell(r.Value), escapeCell(target), escapeCell(ok)})
	}
	width := make([]int, len(header))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(row []string) {
		bw.WriteString("|")
		for i, c := range row {
			bw.WriteString(" ")
			bw.WriteString(c)
			bw.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			bw.WriteString(" |")
		}
		bw.WriteString("\n")
	}
	line(cells[0])
	bw.WriteString("|")
	for _, n := range width {
		bw.WriteString(strings.Repeat("-", n+2))
		bw.WriteString("|")
	}
	bw.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	return bw.Flush()
}

// WriteReport writes the whole report: a heading with the machine, the
// table, and the notes (settings, explanations), as Markdown.
func WriteReport(w io.Writer, m Meta, rows []Row, notes []string) error {
	mode := ""
	if m.Quick {
		mode = " (-quick: small N, not the reference figures)"
	}
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Written by `go run ./cmd/bench` (`make bench`)%s on %s.\n", mode, m.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %d cores, GOMAXPROCS %d, %s %s/%s. N = %d commands. The whole run took %s.\n",
		m.Cores, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch, m.Commands, m.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "The machine is shared and noisy: compare the ratios (measured side by side in this run), not the absolute rates.\n\n")
	if err := FormatTable(w, rows); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of xs by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. xs need not be sorted and is not changed; an empty xs
// gives 0.
func Percentile[T int64 | float64 | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Bench is one result line of `go test -bench -benchmem`.
type Bench struct {
	// Name is the benchmark's name without the -GOMAXPROCS suffix.
	Name string
	// Procs is the GOMAXPROCS suffix (1 when absent).
	Procs       int
	Iterations  int64
	NsPerOp     float64
	BytesPerOp  int64
	AllocsPerOp int64
	// Extra holds further metrics reported with b.ReportMetric, by unit.
	Extra map[string]float64
}

// ParseBench reads the result lines of `go test -bench` output (other
// lines, such as goos:, PASS and ok, are skipped).
func ParseBench(r io.Reader) ([]Bench, error) {
	var out []Bench
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // a benchmark's own log line that starts with its name
		}
		b := Bench{Name: f[0], Procs: 1, Iterations: iters}
		if i := strings.LastIndexByte(f[0], '-'); i > 0 {
			if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
				b.Name, b.Procs = f[0][:i], p
			}
		}
		// The rest are value–unit pairs.
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchrun: %s: value %q of %s is not a number", b.Name, f[i], f[i+1])
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = int64(v)
			case "allocs/op":
				b.AllocsPerOp = int64(v)
			default:
				if b.Extra == nil {
					b.Extra = map[string]float64{}
				}
				b.Extra[f[i+1]] = v
			}
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// formatCount writes a whole number with thousands separators: 12,345.
func formatCount(n float64) string {
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ms writes a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}
