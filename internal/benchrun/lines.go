package benchrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// seedUsers returns n user ids the sandbox knows. The sandbox numbers
// seeded users the same way on every fresh server, so one list serves
// every line; SeedClientUsers is still called on each sandbox so the
// edits find their users.
func seedUsers(e *env, n int) []string { return e.emu.SeedClientUsers(n) }

// throughput is a line-1 or line-2 measurement.
type throughput struct {
	N       int
	Elapsed time.Duration
	// Calls and Rows are the sandbox's counts (line 2 only).
	Calls, Rows int
	// Cores is the CPU this process (broker, worker, sandbox and
	// producer together) used while it ran, in cores busy on average.
	Cores float64
}

// Rate is commands per second.
func (t throughput) Rate() float64 { return float64(t.N) / t.Elapsed.Seconds() }

// CPU is the CPU time the process used while it ran.
func (t throughput) CPU() time.Duration { return time.Duration(t.Cores * float64(t.Elapsed)) }

// ceilingEnv is the world of lines 1 and 1b: a fresh server and
// sandbox, n commands ready to publish (replies to replyTo) and the command
// stream.
func ceilingEnv(ctx context.Context, url string, n int, replyTo string) (*env, []*nats.Msg, error) {
	e, err := newEnvAt(url, emulator.Config{})
	if err != nil {
		return nil, nil, err
	}
	msgs, err := commands("c", seedUsers(e, n), replyTo)
	if err == nil {
		err = e.createCommandStream(ctx)
	}
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return e, msgs, nil
}

// consumer opens a connection of its own and a durable pull consumer of
// the command stream on it, as a worker's lane has.
func (e *env) consumer(ctx context.Context, name string, maxAckPending int) (*nats.Conn, jetstream.JetStream, jetstream.Consumer, error) {
	cnc, err := nats.Connect(e.url, nats.Name(name))
	if err != nil {
		return nil, nil, nil, err
	}
	cjs, err := jetstream.New(cnc)
	if err == nil {
		var cons jetstream.Consumer
		cons, err = cjs.CreateOrUpdateConsumer(ctx, contract.CommandStream, jetstream.ConsumerConfig{
			Durable:       name,
			FilterSubject: contract.CommandPrefix + op,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxAckPending: maxAckPending,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err == nil {
			return cnc, cjs, cons, nil
		}
	}
	cnc.Close()
	return nil, nil, nil, err
}

// brokerCeiling is line 1: the same commands published asynchronously
// to the same stream, and a pull consumer (started first, on its own
// connection, like the worker's) that fetches them in batches and
// acknowledges each; no worker. Timed from the first publish to the last
// acknowledgement flushed to the server and the stream found empty.
func brokerCeiling(ctx context.Context, n, batch, maxAckPending int) (throughput, error) {
	return brokerCeilingAt(ctx, "", n, batch, maxAckPending)
}

// brokerCeilingAt is brokerCeiling against the broker at url (a fresh
// embedded one when url is empty).
func brokerCeilingAt(ctx context.Context, url string, n, batch, maxAckPending int) (throughput, error) {
	e, msgs, err := ceilingEnv(ctx, url, n, nats.NewInbox())
	if err != nil {
		return throughput{}, err
	}
	defer e.Close()
	cnc, _, cons, err := e.consumer(ctx, "bench-ceiling", maxAckPending)
	if err != nil {
		return throughput{}, err
	}
	defer cnc.Close()
	consumed := make(chan error, 1)
	var end time.Time
	go func() {
		got := 0
		for got < n && ctx.Err() == nil {
			b, err := cons.Fetch(min(batch, n-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				consumed <- err
				return
			}
			for m := range b.Messages() {
				if err := m.Ack(); err != nil {
					consumed <- err
					return
				}
				got++
			}
			if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
				consumed <- err
				return
			}
		}
		err := cnc.Flush()
		end = time.Now()
		consumed <- err
	}()
	cpu0 := cpuTime()
	start, err := e.publishAll(ctx, msgs)
	if err != nil {
		return throughput{}, err
	}
	select {
	case err := <-consumed:
		if err != nil {
			return throughput{}, fmt.Errorf("consumer: %w", err)
		}
	case <-time.After(5 * time.Minute):
		return throughput{}, errors.New("consumer: not done within 5m")
	}
	// Acks are processed by the server in order after the flush; the
	// work queue removes each acknowledged message.
	st, err := e.js.Stream(ctx, contract.CommandStream)
	if err != nil {
		return throughput{}, err
	}
	for {
		info, err := st.Info(ctx)
		if err != nil {
			return throughput{}, err
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Since(end) > 10*time.Second {
			return throughput{}, fmt.Errorf("%d commands still in the stream after every ack", info.State.Msgs)
		}
		time.Sleep(time.Millisecond) // polling the server's state, not waiting for work
		end = time.Now()
	}
	return throughput{N: n, Elapsed: end.Sub(start), Cores: (cpuTime() - cpu0).Seconds() / end.Sub(start).Seconds()}, nil
}

// workerThroughput is line 2: the worker runs first; the producer
// publishes every command asynchronously and gathers results on its reply
// subject. Timed from the first publish to the last result.
func workerThroughput(ctx context.Context, n int, set worker.OpSettings) (throughput, error) {
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return throughput{}, err
	}
	defer e.Close()
	users := seedUsers(e, n)
	inbox := nats.NewInbox()
	msgs, err := commands("c", users, inbox)
	if err != nil {
		return throughput{}, err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return throughput{}, err
	}
	w, err := e.startWorker(workerSettings{Defaults: set})
	if err != nil {
		return throughput{}, err
	}
	defer w.stop()
	cpu0 := cpuTime()
	start, err := e.publishAll(ctx, msgs)
	if err != nil {
		return throughput{}, err
	}
	if err := res.wait(ctx, 10*time.Minute); err != nil {
		return throughput{}, err
	}
	cpu := cpuTime() - cpu0
	st := e.emu.Stats()
	elapsed := res.lastAt().Sub(start)
	return throughput{N: n, Elapsed: elapsed, Calls: st.Calls[op], Rows: st.Rows[op], Cores: cpu.Seconds() / elapsed.Seconds()}, nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// packing is a line-3 measurement.
type packing struct {
	N, Calls, Rows int
	Elapsed        time.Duration // first publish (or worker start) to last result
}

func (p packing) CallsPer1000() float64 { return float64(p.Calls) / float64(p.N) * 1000 }
func (p packing) RowsPerCall() float64  { return float64(p.Rows) / float64(p.Calls) }

// packingBacklog is line 3a: every command is in the stream before the
// worker starts. Timed from the worker's start to the last result.
func packingBacklog(ctx context.Context, n int, set worker.OpSettings, ops map[string]worker.OpSettings) (packing, error) {
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return packing{}, err
	}
	defer e.Close()
	users := seedUsers(e, n)
	inbox := nats.NewInbox()
	msgs, err := commands("c", users, inbox)
	if err != nil {
		return packing{}, err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return packing{}, err
	}
	if err := e.createCommandStream(ctx); err != nil {
		return packing{}, err
	}
	if _, err := e.publishAll(ctx, msgs); err != nil {
		return packing{}, err
	}
	start := time.Now()
	w, err := e.startWorker(workerSettings{Defaults: set, Ops: ops})
	if err != nil {
		return packing{}, err
	}
	defer w.stop()
	if err := res.wait(ctx, 10*time.Minute); err != nil {
		return packing{}, err
	}
	st := e.emu.Stats()
	return packing{N: n, Calls: st.Calls[op], Rows: st.Rows[op], Elapsed: res.lastAt().Sub(start)}, nil
}

// trickled is a line-3b or line-4 measurement: commands published at a
// steady rate to a running worker.
type trickled struct {
	packing
	// Latency is each command's time from publish to result.
	Latency []time.Duration
	// Overhead is, for each command, its result's arrival less the moment
	// its packet was due: the publish of the packet's oldest command plus
	// max-wait plus the sandbox's latency.
	Overhead []time.Duration
	// Overhead in three parts: ToSandbox until the packet's call reached
	// the sandbox (fetch, timer, dispatch, encoding, HTTP); InCall from
	// there until the worker had handled the answer (the result's At),
	// less the sandbox's latency (decoding and running the packet in the
	// sandbox, the answer, decoding it); Finishing the rest (the outcome
	// write, the result publish, the reply). ToSandbox and InCall are
	// empty when calls could not be matched to packets one to one.
	ToSandbox, InCall, Finishing []time.Duration
}

// trickle runs n commands at rate per second through a worker with the
// given settings and a sandbox answering after apiLatency.
func trickle(ctx context.Context, n, rate int, set worker.OpSettings, apiLatency time.Duration) (trickled, error) {
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}, LatencyMin: apiLatency, LatencyMax: apiLatency})
	if err != nil {
		return trickled{}, err
	}
	defer e.Close()
	users := seedUsers(e, n)
	inbox := nats.NewInbox()
	msgs, err := commands("c", users, inbox)
	if err != nil {
		return trickled{}, err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return trickled{}, err
	}
	w, err := e.startWorker(workerSettings{Defaults: set})
	if err != nil {
		return trickled{}, err
	}
	defer w.stop()
	sent := make([]time.Time, n)
	if err := e.trickle(ctx, msgs, rate, sent); err != nil {
		return trickled{}, err
	}
	if err := res.wait(ctx, time.Minute+time.Duration(set.MaxWait)); err != nil {
		return trickled{}, err
	}
	st := e.emu.Stats()
	out := trickled{packing: packing{N: n, Calls: st.Calls[op], Rows: st.Rows[op], Elapsed: res.lastAt().Sub(sent[0])}}
	res.mu.Lock()
	defer res.mu.Unlock()
	oldest := map[string]time.Time{}
	for i, b := range res.batch {
		if t, ok := oldest[b]; !ok || sent[i].Before(t) {
			oldest[b] = sent[i]
		}
	}
	due := time.Duration(set.MaxWait) + apiLatency
	// Calls go one at a time in the order their packets fall due, so the
	// sandbox's arrival times match the packets sorted by due time.
	batches := make([]string, 0, len(oldest))
	for b := range oldest {
		batches = append(batches, b)
	}
	slices.SortFunc(batches, func(a, b string) int { return oldest[a].Compare(oldest[b]) })
	calls := e.rec.snapshot()
	reached := map[string]time.Time{}
	if len(calls) == len(batches) && set.Concurrency <= 1 {
		for i, b := range batches {
			reached[b] = calls[i]
		}
	}
	for i, at := range res.at {
		packetDue := oldest[res.batch[i]].Add(due)
		out.Latency = append(out.Latency, at.Sub(sent[i]))
		out.Overhead = append(out.Overhead, at.Sub(packetDue))
		out.Finishing = append(out.Finishing, at.Sub(res.decided[i]))
		if t, ok := reached[res.batch[i]]; ok {
			out.ToSandbox = append(out.ToSandbox, t.Sub(packetDue)+apiLatency) // due to send: no API latency yet
			out.InCall = append(out.InCall, res.decided[i].Sub(t)-apiLatency)
		}
	}
	return out, nil
}

// quotaUse is the line-5 measurement.
type quotaUse struct {
	N          int
	Limit      int
	Window     time.Duration
	Guard      time.Duration
	OutOfLimit int
	MaxInWin   int
	Calls      int
	// PerWindow are the calls that reached the sandbox in each window
	// from the first with a call to the last.
	PerWindow []int
	// FullWindows are the windows between the first and the last (both
	// excluded: the worker started part-way through the first, and the
	// backlog ran out in the last); FullCalls the calls made in them.
	FullWindows, FullCalls int
	Elapsed                time.Duration
}

// Share is the calls made in full windows over the calls they allowed.
func (q quotaUse) Share() float64 {
	if q.FullWindows == 0 {
		return 0
	}
	return float64(q.FullCalls) / float64(q.Limit*q.FullWindows)
}

// quotaRun is line 5: a sandbox with short windows and a small limit, a
// worker with the shared limiter of the same windows, and a backlog of
// windows+½ windows' worth of full packets published before it starts.
func quotaRun(ctx context.Context, windows, limit int, length, guard time.Duration) (quotaUse, error) {
	e, err := newEnv(emulator.Config{Window: length, Limits: map[string]int{op: limit, "*": unlimited}})
	if err != nil {
		return quotaUse{}, err
	}
	defer e.Close()
	const rows = 100
	n := windows*limit*rows + limit*rows/2
	users := seedUsers(e, n)
	inbox := nats.NewInbox()
	msgs, err := commands("c", users, inbox)
	if err != nil {
		return quotaUse{}, err
	}
	res, err := e.collect(inbox, "c", n)
	if err != nil {
		return quotaUse{}, err
	}
	if err := e.createCommandStream(ctx); err != nil {
		return quotaUse{}, err
	}
	if _, err := e.publishAll(ctx, msgs); err != nil {
		return quotaUse{}, err
	}
	win := quota.Windows{Length: length, Guard: guard, Location: quota.MoscowTime()}
	start := time.Now()
	w, err := e.startWorker(workerSettings{Limiter: func(js jetstream.JetStream) (worker.Limiter, error) {
		return quota.NewShared(ctx, quota.SharedConfig{JetStream: js, Config: quota.Config{
			Windows: win,
			Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: map[string]int{op: limit, "*": unlimited}, Reserve: -1},
		}})
	}})
	if err != nil {
		return quotaUse{}, err
	}
	defer w.stop()
	if err := res.wait(ctx, time.Duration(windows+4)*length+time.Minute); err != nil {
		return quotaUse{}, err
	}
	st := e.emu.Stats()
	q := quotaUse{N: n, Limit: limit, Window: length, Guard: guard, OutOfLimit: st.OutOfLimit[op],
		MaxInWin: st.MaxCallsInWindow[op], Calls: st.Calls[op], Elapsed: res.lastAt().Sub(start)}
	// The sandbox's windows are multiples of the length since the epoch.
	idx := func(t time.Time) int64 { return t.UnixNano() / int64(length) }
	times := e.rec.snapshot()
	if len(times) == 0 {
		return q, errors.New("no call reached the sandbox")
	}
	first, last := idx(times[0]), idx(times[len(times)-1])
	q.PerWindow = make([]int, last-first+1)
	for _, t := range times {
		q.PerWindow[idx(t)-first]++
	}
	if len(q.PerWindow) > 2 {
		q.FullWindows = len(q.PerWindow) - 2
		for _, c := range q.PerWindow[1 : len(q.PerWindow)-1] {
			q.FullCalls += c
		}
	}
	return q, nil
}
