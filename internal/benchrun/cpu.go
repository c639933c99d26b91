package benchrun

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/internal/embednats"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Line 12: the CPU one command costs, the worker's beside the broker's.
// In lines 1 and 2 broker, worker, sandbox and producer share one
// process, so their CPU cannot be told apart; here each runs as a process
// of its own — the broker (cmd/bench -serve-broker), the real worker
// binary, and this process (the sandbox and the producer) — and each
// one's CPU time is read from /proc/<pid>/stat (or getrusage for this
// process) around the same run.

// ServeBroker runs an embedded JetStream server on a free loopback port,
// its files in a temporary folder removed at the end, writes its client
// URL and a newline to w, and serves until ctx ends: the broker process
// of line 12.
func ServeBroker(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "connect-bench-broker-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := embednats.Start(embednats.Config{Port: -1, StoreDir: dir})
	if err != nil {
		return err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	if _, err := fmt.Fprintln(w, srv.ClientURL()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// child is a process of line 12.
type child struct {
	cmd    *exec.Cmd
	exited chan error
	logs   tail
}

// start runs bin with args, killed should this process die first.
func start(bin string, args ...string) (*child, io.Reader, error) {
	c := &child{cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	c.cmd.Env = workerEnv(os.Environ())
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	c.cmd.Stderr = &c.logs
	if err := c.cmd.Start(); err != nil {
		return nil, nil, err
	}
	go func() { c.exited <- c.cmd.Wait() }()
	return c, out, nil
}

// stop ends the process with SIGTERM, or SIGKILL after 10s.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// cpu is the CPU time (user and system, every thread) the process has
// used so far.
func (c *child) cpu() (time.Duration, error) { return procCPU(c.cmd.Process.Pid) }

// startBroker runs the bench binary as a broker and returns it with its
// client URL.
func startBroker(ctx context.Context, bench string) (*child, string, error) {
	c, out, err := start(bench, "-serve-broker")
	if err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case url, ok := <-line:
		if ok && strings.HasPrefix(url, "nats://") {
			return c, url, nil
		}
		c.stop()
		return nil, "", fmt.Errorf("broker process wrote %q, not its URL; its log: %s", url, c.logs.String())
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	c.stop()
	return nil, "", fmt.Errorf("broker process gave no URL within 30s; its log: %s", c.logs.String())
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPU reads utime + stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses
// and may hold spaces, so fields are counted from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("benchrun: /proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("benchrun: /proc stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 and 15; f[0] is field 3
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("benchrun: /proc stat: %w", err)
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuSplit is a line-12 measurement: CPU time per process over one run.
type cpuSplit struct {
	N int
	// Broker alone: the line-1 workload against the broker process; the
	// harness is the producer and the pull consumer.
	BrokerAlone, HarnessAlone time.Duration
	// With the worker: the line-2 workload; the harness is the sandbox,
	// the producer and the result collector.
	Worker, Broker, Harness time.Duration
	Elapsed                 time.Duration // of the worker run
}

// per1000 is d per 1,000 of n commands.
func per1000(d time.Duration, n int) time.Duration {
	return time.Duration(float64(d) / float64(n) * 1000)
}

// measureCPUSplit runs both workloads with n commands, each against a
// fresh broker process.
func measureCPUSplit(ctx context.Context, bench, workerBin string, n int, set worker.OpSettings) (cpuSplit, error) {
	out := cpuSplit{N: n}
	// Broker alone.
	broker, url, err := startBroker(ctx, bench)
	if err != nil {
		return out, err
	}
	b0, err := broker.cpu()
	if err == nil {
		var t throughput
		t, err = brokerCeilingAt(ctx, url, n, ceilingBatch, set.MaxPending)
		out.HarnessAlone = t.CPU()
		if err == nil {
			var b1 time.Duration
			b1, err = broker.cpu()
			out.BrokerAlone = b1 - b0
		}
	}
	broker.stop()
	if err != nil {
		return out, fmt.Errorf("broker alone: %w", err)
	}
	// With the worker.
	broker, url, err = startBroker(ctx, bench)
	if err != nil {
		return out, err
	}
	defer broker.stop()
	if err := workerProcessRun(ctx, url, broker, workerBin, n, set, &out); err != nil {
		return out, fmt.Errorf("with the worker: %w", err)
	}
	return out, nil
}

// workerProcessRun is line 2's workload with the worker binary as a
// process of its own: n commands published while it runs, results on the
// producer's reply subject.
func workerProcessRun(ctx context.Context, url string, broker *child, workerBin string, n int, set worker.OpSettings, out *cpuSplit) error {
	e, err := newEnvAt(url, emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return err
	}
	defer e.Close()
	inbox := nats.NewInbox()
	msgs, err := commands("c", seedUsers(e, n), inbox)
	if err != nil {
		return err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return err
	}
	conf := filepath.Join(e.dir, "worker.json")
	settings, err := json.Marshal(map[string]worker.OpSettings{"defaults": set})
	if err != nil {
		return err
	}
	if err := os.WriteFile(conf, settings, 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	w, _, err := start(workerBin, "--nats-url", url, "--connect-url", e.api, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--log-level", "warn", "--operations", op, "--local-quota", "--limit", "*="+strconv.Itoa(unlimited),
		"--config", conf, "--shutdown-timeout", "5s")
	if err != nil {
		return err
	}
	defer w.stop()
	if err := waitHTTP(ctx, "http://"+addr+"/readyz", 30*time.Second, w.exited); err != nil {
		return fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	w0, err := w.cpu()
	if err != nil {
		return err
	}
	b0, err := broker.cpu()
	if err != nil {
		return err
	}
	h0 := cpuTime()
	start, err := e.publishAll(ctx, msgs)
	if err != nil {
		return err
	}
	if err := res.wait(ctx, 10*time.Minute); err != nil {
		return fmt.Errorf("%w; worker log: %s", err, w.logs.String())
	}
	out.Harness = cpuTime() - h0
	out.Elapsed = res.lastAt().Sub(start)
	w1, err := w.cpu()
	if err != nil {
		return err
	}
	b1, err := broker.cpu()
	if err != nil {
		return err
	}
	out.Worker, out.Broker = w1-w0, b1-b0
	return nil
}

// cpuLine is line 12.
func (r *runner) cpuLine(ctx context.Context) error {
	n := r.cfg.Commands
	dir, err := os.MkdirTemp("", "connect-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bench, err := buildCmd(ctx, r.cfg.Root, dir, "bench")
	if err != nil {
		return err
	}
	workerBin, err := buildCmd(ctx, r.cfg.Root, dir, "worker")
	if err != nil {
		return err
	}
	c, err := measureCPUSplit(ctx, bench, workerBin, n, r.cfg.Throughput)
	if err != nil {
		return err
	}
	r.logf("  worker %s, broker %s, harness %s of CPU for %d commands; broker alone %s, harness %s",
		c.Worker, c.Broker, c.Harness, n, c.BrokerAlone, c.HarnessAlone)
	msPer := func(d time.Duration) string { return ms(per1000(d, n)) }
	r.add(Row{Line: "12", Metric: "CPU per 1,000 commands, each part in a process of its own: the worker beside the broker",
		Value: fmt.Sprintf("worker %s, broker %s serving it: worker ÷ broker %.2f; broker alone under line 1's load %s; this process (sandbox, producer) %s (N=%s, %s)",
			msPer(c.Worker), msPer(c.Broker), float64(c.Worker)/float64(max(c.Broker, 1)),
			msPer(c.BrokerAlone), msPer(c.Harness), formatCount(float64(n)), c.Elapsed.Round(time.Millisecond))})
	r.note("12", "Line 12: line 1's and line 2's loads again (%s commands each, the worker with %s, only the ClientUserEdit lane, local quota with limits off), with the broker as a process of its own (`go build ./cmd/bench`, run with -serve-broker: the same embedded JetStream server) and the worker as the real binary (`go build ./cmd/worker`, --config with those settings); this process is the sandbox, the producer and the result collector. CPU is utime + stime of each process from /proc/<pid>/stat (10 ms ticks) around the run, and getrusage for this process; per 1,000 commands. The broker serving the worker works harder than the broker alone: per command it also stores the outcome and the result (each with its de-duplication id), answers the outcome lookups and the acks of both, and carries the reply. Line 2d gives the same per 1,000 commands for lines 1 and 2 themselves, where everything shares one process.",
		formatCount(float64(n)), describe(r.cfg.Throughput))
	return nil
}
