// Package benchrun measures the worker side by side with the broker it
// runs on and with the naive way of calling the API, and writes one
// table: the logic of cmd/bench.
//
// Every line runs in a fresh world — an embedded JetStream server with
// its files in a temporary folder and the sandbox API on loopback — so
// lines do not inherit each other's streams or counters. Lines run one
// after another, never at the same time, because the machine has few
// cores and the figures that matter are ratios of runs made side by side.
package benchrun

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Config says what to measure and how much. Zero fields take the
// defaults of the reference run (Defaults).
type Config struct {
	// Commands is N of lines 1, 2, 3a and 12. Defaults to 100,000.
	Commands int
	// Rounds is how many times lines 1 and 2 run, alternately; the table
	// shows the median of each and the ratio of the medians. Defaults to 3.
	Rounds int
	// Throughput are the worker's settings for line 2.
	Throughput worker.OpSettings
	// TrickleRate (commands/s) and TrickleFor shape line 3b; LatencyFor
	// is line 4's duration at the same rate. Default 50/s, 20s and 20s.
	TrickleRate            int
	TrickleFor, LatencyFor time.Duration
	// QuotaWindows is how many full windows line 5's backlog lasts.
	// Defaults to 5.
	QuotaWindows int
	// NaiveCommands is line 6's measured N. Defaults to 2,000.
	NaiveCommands int
	// MemoryCommands is line 7's N. Defaults to 100,000.
	MemoryCommands int
	// Bursts is how many bursts line 9 sends, one every 4s. Defaults to
	// 10.
	Bursts int
	// FeedChurn is the sandbox's churn of line 13, changes a minute of
	// every kind. Defaults to 120.
	FeedChurn float64
	// FeedLagFor is how long line 13's churn runs. Defaults to 60s.
	FeedLagFor time.Duration
	// BackfillObjects is how many client users line 14's backfill reads.
	// Defaults to 100,000.
	BackfillObjects int
	// ExportRows is about how many rows line 15's chunk holds. Defaults
	// to 100,000.
	ExportRows int
	// FileBytes is the size of line 16's file. Defaults to 20 MB.
	FileBytes int
	// BenchTime is -benchtime for the Go benchmarks; empty for go test's
	// default.
	BenchTime string
	// Lines, when not empty, runs only these lines ("1".."16").
	Lines []string
	// Root is the module's root folder (where go.mod is), for go build
	// and go test. Defaults to the nearest folder up from the working
	// directory that has a go.mod.
	Root string
	// Quick marks a development run in the report.
	Quick bool
	// Log receives progress lines. Defaults to io.Discard.
	Log io.Writer
}

// Quick returns the small settings of -quick.
func Quick() Config {
	return Config{
		Commands: 10_000, Rounds: 1, TrickleFor: 6 * time.Second, LatencyFor: 6 * time.Second, QuotaWindows: 2,
		NaiveCommands: 300, MemoryCommands: 10_000, Bursts: 3, BenchTime: "200ms", Quick: true,
		FeedLagFor: 20 * time.Second, BackfillObjects: 20_000, ExportRows: 20_000,
	}
}

// Throughput settings of line 2, chosen by trying the worker's knobs on
// this machine (see the notes of the report).
var tunedThroughput = worker.OpSettings{MaxPending: 4000, Concurrency: 4, MaxWait: worker.Duration(50 * time.Millisecond)}

func (c Config) withDefaults() (Config, error) {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defDur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Commands, 100_000)
	def(&c.Rounds, 3)
	def(&c.TrickleRate, 50)
	defDur(&c.TrickleFor, 20*time.Second)
	defDur(&c.LatencyFor, 20*time.Second)
	def(&c.QuotaWindows, 5)
	def(&c.NaiveCommands, 2000)
	def(&c.MemoryCommands, 100_000)
	def(&c.Bursts, 10)
	defDur(&c.FeedLagFor, time.Minute)
	def(&c.BackfillObjects, 100_000)
	def(&c.ExportRows, 100_000)
	def(&c.FileBytes, 20<<20)
	if c.FeedChurn <= 0 {
		c.FeedChurn = 120
	}
	c.Throughput = c.Throughput.Merge(tunedThroughput)
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Root == "" {
		root, err := moduleRoot()
		if err != nil {
			return c, err
		}
		c.Root = root
	}
	return c, nil
}

// moduleRoot finds the nearest folder up from the working directory that
// holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("benchrun: no go.mod above the working directory; run from the repository")
		}
		dir = parent
	}
}

// Report is what a run measured.
type Report struct {
	Meta  Meta
	Rows  []Row
	Notes []string
}

// Write writes the report as Markdown.
func (r Report) Write(w io.Writer) error { return WriteReport(w, r.Meta, r.Rows, r.Notes) }

// Run measures every line (or cfg.Lines) and returns the report. A line
// that fails is reported in its row, and Run goes on with the others;
// the error returned joins every failure.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	began := time.Now()
	r := &runner{cfg: cfg}
	want := func(line string) bool { return len(cfg.Lines) == 0 || slices.Contains(cfg.Lines, line) }
	steps := []struct {
		line string
		fn   func(context.Context) error
	}{
		{"8", r.goBenchmarks},
		{"1", r.throughputLines}, // lines 1 and 2 alternate
		{"3", r.packingLines},
		{"4", r.latencyLine},
		{"5", r.quotaLine},
		{"6", r.naiveLine},
		{"7", r.memoryLine},
		{"9", r.burstLine},
		{"10", r.hotLine},
		{"11", r.shapesLine},
		{"12", r.cpuLine},
		{"13", r.feedLagLine},
		{"14", r.backfillLine},
		{"15", r.historyLine},
		{"16", r.fileLine},
	}
	var errs []string
	for _, s := range steps {
		if !want(s.line) && !(s.line == "1" && want("2")) && !(s.line == "3" && (want("3a") || want("3b"))) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		t := time.Now()
		r.logf("line %s …", s.line)
		if err := s.fn(ctx); err != nil {
			errs = append(errs, fmt.Sprintf("line %s: %v", s.line, err))
			r.rows = append(r.rows, Row{Line: s.line, Metric: "failed", Value: firstLine(err.Error()), Met: "no"})
			r.logf("line %s failed: %v", s.line, err)
			continue
		}
		r.logf("line %s done in %s", s.line, time.Since(t).Round(100*time.Millisecond))
	}
	slices.SortStableFunc(r.rows, func(a, b Row) int { return strings.Compare(lineKey(a.Line), lineKey(b.Line)) })
	slices.SortStableFunc(r.notes, func(a, b note) int { return strings.Compare(lineKey(a.line), lineKey(b.line)) })
	notes := make([]string, len(r.notes))
	for i, n := range r.notes {
		notes[i] = n.text
	}
	rep := Report{
		Meta: Meta{
			Date: began, Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Commands: cfg.Commands, Quick: cfg.Quick, Elapsed: time.Since(began),
		},
		Rows:  r.rows,
		Notes: notes,
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("benchrun: %s", strings.Join(errs, "; "))
	}
	return rep, nil
}

// lineKey sorts "1" < "2" < "3a" < "3b" < … < "8c".
func lineKey(l string) string {
	n := 0
	for n < len(l) && l[n] >= '0' && l[n] <= '9' {
		n++
	}
	v, _ := strconv.Atoi(l[:n])
	return fmt.Sprintf("%03d%s", v, l[n:])
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// runner gathers rows and notes while the lines run.
type runner struct {
	cfg   Config
	rows  []Row
	notes []note
	// backlog is line 3a's result, which line 6 sets beside the naive way.
	backlog *packing
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r *runner) add(row Row) { r.rows = append(r.rows, row) }

// note adds a note to the report, placed with its line's.
func (r *runner) note(line, format string, args ...any) {
	r.notes = append(r.notes, note{line: line, text: fmt.Sprintf(format, args...)})
}

type note struct{ line, text string }
