package benchrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
)

// buildWorker builds cmd/worker into a new temporary folder; the caller
// removes the folder.
func buildWorker(ctx context.Context, root string) (dir, bin string, err error) {
	dir, err = os.MkdirTemp("", "connect-bench-bin-")
	if err != nil {
		return "", "", err
	}
	bin, err = buildCmd(ctx, root, dir, "worker")
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", err
	}
	return dir, bin, nil
}

// buildCmd builds ./cmd/<name> of the module at root into dir and
// returns the binary's path.
func buildCmd(ctx context.Context, root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// memoryMode says how the sandbox keeps the worker from draining.
type memoryMode int

const (
	// limitZero gives the worker a quota of 0 calls (--limit
	// ClientUserEdit=0): it never calls.
	limitZero memoryMode = iota
	// hangingAPI leaves the quota alone and makes the sandbox answer after
	// 10 minutes: one call stays in flight and the lane fills up to
	// max_pending behind it.
	hangingAPI
)

// memory is a line-7 measurement.
type memory struct {
	Mode     memoryMode
	Commands int
	// Held is the worker's queue depth (commands held unfinished) at
	// steady state; InStream the commands still in the stream.
	Held     int
	InStream uint64
	// IdleRSS is VmRSS once ready, before any command; SteadyRSS the
	// largest VmRSS in the steady period; PeakRSS VmHWM at the end.
	IdleRSS, SteadyRSS, PeakRSS int64
}

// memoryRun runs the real worker binary as a child process against an
// embedded NATS server and the sandbox of this process, publishes n
// commands it cannot drain, and reads its memory from /proc.
func memoryRun(ctx context.Context, bin string, n int, mode memoryMode) (memory, error) {
	ecfg := emulator.Config{Limits: map[string]int{"*": unlimited}}
	if mode == hangingAPI {
		ecfg.LatencyMin, ecfg.LatencyMax = 10*time.Minute, 10*time.Minute
	}
	e, err := newEnv(ecfg)
	if err != nil {
		return memory{}, err
	}
	defer e.Close()
	users := seedUsers(e, n)
	msgs, err := commands("c", users, "")
	if err != nil {
		return memory{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return memory{}, err
	}
	args := []string{
		"--nats-url", e.url,
		"--connect-url", e.api, "--connect-user", "admin", "--connect-password", "admin",
		"--http-listen", addr, "--log-level", "warn", "--shutdown-timeout", "5s",
	}
	if mode == limitZero {
		args = append(args, "--limit", op+"=0")
	}
	var logs tail
	cmd := exec.Command(bin, args...)
	cmd.Env = workerEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return memory{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	fail := func(err error) (memory, error) {
		return memory{}, fmt.Errorf("%w; worker log: %s", err, logs.String())
	}
	base := "http://" + addr
	if err := waitHTTP(ctx, base+"/readyz", 30*time.Second, exited); err != nil {
		return fail(err)
	}
	m := memory{Mode: mode, Commands: n}
	if m.IdleRSS, _, err = procMemory(cmd.Process.Pid); err != nil {
		return fail(err)
	}
	// Sample while the commands go in, so that VmRSS is seen throughout.
	var rssMu sync.Mutex // protects maxRSS
	var maxRSS int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			if rss, _, err := procMemory(cmd.Process.Pid); err == nil {
				rssMu.Lock()
				maxRSS = max(maxRSS, rss)
				rssMu.Unlock()
			}
		}
	}()
	if _, err := e.publishAll(ctx, msgs); err != nil {
		close(stopSampling)
		return fail(err)
	}
	// Steady state: the queue depth has not changed for 3s.
	last, since := -1, time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Since(since) < 3*time.Second; {
		if time.Now().After(deadline) {
			break
		}
		d, err := queueDepth(ctx, base+"/metrics")
		if err != nil {
			close(stopSampling)
			return fail(err)
		}
		if d != last {
			last, since = d, time.Now()
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case err := <-exited:
			close(stopSampling)
			return fail(fmt.Errorf("worker exited: %v", err))
		}
	}
	// The steady period: VmRSS over 2s more.
	rssMu.Lock()
	maxRSS = 0
	rssMu.Unlock()
	time.Sleep(2 * time.Second) // sampling runs meanwhile
	close(stopSampling)
	<-sampled
	m.Held, m.SteadyRSS = last, maxRSS
	if _, m.PeakRSS, err = procMemory(cmd.Process.Pid); err != nil {
		return fail(err)
	}
	st, err := e.js.Stream(ctx, contract.CommandStream)
	if err != nil {
		return fail(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fail(err)
	}
	m.InStream = info.State.Msgs
	if m.InStream != uint64(n) {
		// Work queue: commands held unacknowledged are still stored.
		return fail(fmt.Errorf("%d of %d commands in the stream: the worker drained some", m.InStream, n))
	}
	return m, nil
}

// workerEnv is env without the variables the worker reads its settings
// from, so that nothing set in the caller's shell changes the run.
func workerEnv(env []string) []string {
	prefixes := []string{"NATS_", "CONNECT_", "EMBEDDED_", "QUOTA_", "HTTP_LISTEN=", "MAX_WAIT=", "ACK_WAIT=",
		"SHUTDOWN_TIMEOUT=", "STREAM_REPLICAS=", "OPERATIONS=", "CONFIG_FILE=", "LOG_LEVEL=", "FEED", "CHANGE_MAX_AGE=",
		"EXPORT", "HISTORY_MAX_AGE=", "FILES_", "NO_FILES="}
	out := env[:0:0]
	for _, kv := range env {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			out = append(out, kv)
		}
	}
	return out
}

// procMemory reads VmRSS and VmHWM of pid, in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM (in kB) from /proc/<pid>/status.
func parseStatus(b []byte) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	found := 0
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("benchrun: /proc status: %s: %q", name, rest)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("benchrun: /proc status: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = v << 10
		} else {
			hwm = v << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("benchrun: /proc status has no VmRSS or VmHWM")
	}
	return rss, hwm, nil
}

// queueDepth reads the worker's queue depth of op from /metrics.
func queueDepth(ctx context.Context, url string) (int, error) {
	body, err := get(ctx, url)
	if err != nil {
		return 0, err
	}
	return parseGauge(body, `connect_worker_queue_depth{op="`+op+`"}`)
}

// parseGauge finds the sample of series in a Prometheus text page.
func parseGauge(page, series string) (int, error) {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("benchrun: metric %s: %w", series, err)
			}
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("benchrun: no metric %s", series)
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// waitHTTP polls url until it answers 200, the process exits, or d
// passes.
func waitHTTP(ctx context.Context, url string, d time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := get(ctx, url); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", url, d, err)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("worker exited at start: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail keeps the last 16 KiB written to it: a child's log, for errors.
type tail struct {
	mu sync.Mutex // protects b
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - 16<<10; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// goBench runs `go test -run '^$' -bench pattern -benchmem -count 1` on
// pkgs in root and parses the results.
func goBench(ctx context.Context, root, pattern, benchtime string, pkgs ...string) ([]Bench, string, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1"}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, out.String(), fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	bs, err := ParseBench(bytes.NewReader(out.Bytes()))
	return bs, out.String(), err
}
