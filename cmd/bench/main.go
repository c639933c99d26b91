// Command bench measures the worker side by side with the JetStream broker
// it runs on and with the naive way of calling the API, prints one table
// and writes it, with the machine's description, to the -out file
// (BENCHMARKS.md under `make bench`). -h explains each line.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/onec-connect/connect-bridge/internal/benchrun"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

const usage = `Usage: go run ./cmd/bench [flags]      (make bench: -out BENCHMARKS.md)

Measures connect-bridge on this machine and prints one table; each row has
the metric, the value, the target and whether it was met. Every line runs
in a fresh world: an embedded NATS JetStream server (files in a temporary
folder) and the sandbox API (internal/emulator) on loopback, one line after
another. The machine is shared: read the ratios, measured side by side in
one run, rather than the absolute rates.

Lines:
  1   Broker ceiling. The same N commands as line 2, published
      asynchronously (with Nats-Msg-Id) to the CONNECT_CMD stream, and a
      pull consumer that fetches and acks them; no worker. commands/s.
  2   Worker throughput. The same N ClientUserEdit commands (distinct
      users from SeedClientUsers) published while a worker runs, sandbox
      with no latency and limits off, results gathered on the producer's
      reply subject; first publish to last result, commands/s, and the
      ratio to line 1 (target ≥ 50%). -max-pending, -concurrency and
      -max-wait tune the worker; the defaults were chosen on this machine.
  3a  Packing under backlog: all N published, then the worker starts
      (default settings). API calls per 1,000 commands and rows per packet
      (target ≥ 99).
  3b  Packing under a trickle of 50 commands/s for 20s, max-wait 2s.
  4   Latency at 50 commands/s, max-wait 100ms, sandbox latency 20ms: p50
      and p99 from publish to result; p50 − (max-wait + 20ms) as asked;
      and the worker's own overhead: each result's arrival after its
      packet was due (target p50 < 5ms).
  5   Quota: sandbox window 2s with 10 ClientUserEdit calls per window;
      the worker's shared limiter with the same windows, guard 100ms,
      reserve 0; a backlog of several windows. Share of the available
      calls used while the backlog lasted (target ≥ 95%) and OUT_OF_LIMIT
      answers (target 0).
  6   Naive baseline: one command per call (worker with max_rows 1),
      measured on a smaller N and extrapolated linearly to N; calls and
      hours at the real limit of 250 calls/h, beside line 3a's worker.
  7   Memory: the real worker binary (go build ./cmd/worker) as a child
      process with 100,000 commands pending that it cannot send: 7a with
      --limit ClientUserEdit=0, 7b with an API that does not answer. Peak
      (VmHWM) and steady VmRSS from /proc (target ≤ 300 MB).
  8   Go benchmarks (go test -bench -benchmem, run as a subprocess):
      8a encoding a 100-row ClientUserEdit packet (target < 100µs),
      8b decoding a 100-row per-row result table, 8c the batcher's
      Add/Next hot path, 8d decoding a 100,000-row read.
  9   Burst tail latency under the real limits: bursts of 150 commands
      every 4s (10 bursts; 3 with -quick) to a worker with its defaults
      (max-wait 2s), the shared limiter with hour windows and the
      catalogue's 250 calls/h less the 10% reserve (225), sandbox
      latency 20ms. p99 from publish to result over all commands
      (target ≤ max-wait + 20ms + 100ms): the holding-back rule must not
      mistake a burst for a rate. Waits for the next hour when the run
      would cross one.
  10  Hot objects: 2,000 edits of 20 users (100 each, one shape)
      published at once; calls (target: the fewest, 1 when the lane can
      hold them all: 10b, max_pending 2,000; 2 with the default 1,000:
      10a). Checks that every user ended on its last edit.
  11  Mixed shapes: 1,000 edits of distinct users whose optional fields
      vary at random; calls against the fewest for their shapes
      (Σ ⌈n_shape ÷ 100⌉).
  12  CPU per 1,000 commands, each part in a process of its own: the
      worker binary and the broker (this binary with -serve-broker) under
      line 2's load, and the broker alone under line 1's; from
      /proc/<pid>/stat. Line 2d gives the same for lines 1 and 2, where
      everything shares one process.
  13  Feed lag under churn: the worker binary with --feed
      ClientUserRead=10s, the sandbox seeded with 1,000 client users and
      churning 120 changes/min of every kind for 60s (20s with -quick);
      for each change of a client user, the time from the sandbox making
      it to its event stored in CONNECT_CHANGES. p50 and p99 (target:
      p99 within the interval plus 1s), and the count.
  14  Feed backfill: 100,000 client users (20,000 with -quick), the
      worker binary's first poll reads them in one answer; objects/s from
      the answer's first byte to the marker stored (decoding, publishing,
      mirroring), the answer's size, and the process's peak RSS (VmHWM,
      target ≤ 300 MB).
  15  History export: the worker binary with one export of
      GetHistoryOfServiceCalls whose first chunk, a week, holds about
      100,000 rows (20,000 with -quick) of the sandbox's generated
      history (its events a day sized to it); rows/s from the answer's
      first byte to the marker stored (decoding, publishing each row to
      CONNECT_HISTORY, awaiting the acknowledgements), the answer's
      size, and the process's peak RSS (VmHWM, target ≤ 300 MB).
  16  Files: a 20 MB file stored in CONNECT_FILES, attached to a service
      request by a ServiceRequestAttachFile command that references it
      (the worker streams it into the request), then downloaded back by
      ServiceRequestDownloadFile (the worker stores the answer in the
      bucket and answers a reference) and compared byte for byte; the
      time of each from publish to result, and the worker binary's peak
      RSS after each (targets ≤ 64 MB and ≤ 160 MB, the bounds of
      cmd/worker's TestFileThroughTheObjectStore).

The reference run takes about 7 minutes (line 9 alone 40s, up to 2 minutes
more when it waits for an hour to begin); -quick runs small sizes in about
two minutes for development.

Flags:
`

func main() {
	cfg, out, serveBroker, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if serveBroker {
		// Line 12's broker process, started by the harness itself.
		err = benchrun.ServeBroker(ctx, os.Stdout)
	} else {
		err = run(ctx, cfg, out, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into the harness's config, the
// output file, and whether to serve as line 12's broker instead.
func parseFlags(args []string, stderr io.Writer) (benchrun.Config, string, bool, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var (
		out, lines, benchtime    string
		quick, serveBroker       bool
		n, rounds, pending, conc int
		maxWait                  time.Duration
	)
	fs.StringVar(&out, "out", "", "also write the report (Markdown) to this file")
	fs.BoolVar(&quick, "quick", false, "small sizes for development (N=10,000, short trickles, 2 quota windows, a 20s churn, a backfill of 20,000, an export chunk of 20,000 rows)")
	fs.IntVar(&n, "n", 0, "N of lines 1–3a and 12 (default 100,000; 10,000 with -quick)")
	fs.IntVar(&rounds, "rounds", 0, "run lines 1 and 2 this many times, alternately, and show the medians (default 3; 1 with -quick)")
	fs.StringVar(&lines, "lines", "", "run only these lines, comma-separated, e.g. -lines 15,16 (1-16; 1 and 2 run together, as do 3a and 3b)")
	fs.StringVar(&benchtime, "benchtime", "", "-benchtime of the Go benchmarks (default go test's 1s; 200ms with -quick)")
	fs.IntVar(&pending, "max-pending", 0, "line 2: the worker's max_pending (default 4000)")
	fs.IntVar(&conc, "concurrency", 0, "line 2: calls in flight (default 4)")
	fs.DurationVar(&maxWait, "max-wait", 0, "line 2: the worker's max-wait (default 50ms)")
	fs.BoolVar(&serveBroker, "serve-broker", false, "run as line 12's broker process: an embedded JetStream server whose URL is written to stdout (the harness starts it)")
	if err := fs.Parse(args); err != nil {
		return benchrun.Config{}, "", false, err
	}
	if fs.NArg() > 0 {
		return benchrun.Config{}, "", false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var cfg benchrun.Config
	if quick {
		cfg = benchrun.Quick()
	}
	if n > 0 {
		cfg.Commands = n
	}
	if rounds > 0 {
		cfg.Rounds = rounds
	}
	if benchtime != "" {
		cfg.BenchTime = benchtime
	}
	cfg.Throughput = worker.OpSettings{MaxPending: pending, Concurrency: conc, MaxWait: worker.Duration(maxWait)}
	if lines != "" {
		for _, l := range strings.Split(lines, ",") {
			cfg.Lines = append(cfg.Lines, strings.TrimSpace(l))
		}
	}
	return cfg, out, serveBroker, nil
}

// run measures, prints the report to stdout and writes it to out.
func run(ctx context.Context, cfg benchrun.Config, out string, stdout io.Writer) error {
	cfg.Log = os.Stderr
	rep, err := benchrun.Run(ctx, cfg)
	var b bytes.Buffer
	if werr := rep.Write(&b); werr != nil {
		return werr
	}
	_, _ = stdout.Write(b.Bytes())
	if out != "" {
		if werr := os.WriteFile(out, b.Bytes(), 0o644); werr != nil {
			return werr
		}
	}
	return err
}
