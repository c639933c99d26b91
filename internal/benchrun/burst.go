package benchrun

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Line 9: bursts under the real limits. Producers often send in bursts
// (a nightly sync, an import); with calls scarce the worker may hold a
// due partial packet back to fill it (internal/worker/hold.go), and the
// question is whether a burst is mistaken for a rate that would exhaust
// the hour. It must not be: bursts of 150 every few seconds leave the
// hour's 225 calls plenty, so each burst's partial packet should go at
// max-wait, and the tail latency stay at max-wait + the API's latency +
// the worker's overhead.

// burstTarget is the slack the target allows beyond max-wait + the API's
// latency.
const burstTarget = 100 * time.Millisecond

// burstRun is a line-9 measurement.
type burstRun struct {
	Bursts, Size int
	Every        time.Duration
	// Limit is the worker's limit of calls per window (the catalogue's,
	// less the reserve).
	Limit   int
	MaxWait time.Duration
	API     time.Duration
	// Latency is each command's time from its publish to its result.
	Latency    []time.Duration
	Calls      int
	Rows       int
	OutOfLimit int
	// Waited is how long the line waited for a quota window to start
	// before it began, so that the run did not cross a window's edge.
	Waited time.Duration
}

// burstLatency publishes bursts of size commands (distinct users) every
// `every` to a running worker with its default settings (max-wait 2s)
// and the real limits: the shared limiter with hour windows, the
// catalogue's limit less the default reserve, the default guard; the
// sandbox answers after api and counts the catalogue's limits too.
func burstLatency(ctx context.Context, bursts, size int, every, api time.Duration) (burstRun, error) {
	out := burstRun{Bursts: bursts, Size: size, Every: every, MaxWait: 2 * time.Second, API: api}
	// A run that crossed the hour would see the guard (no call in the 2s
	// on each side of the edge) and a fresh window: wait for the hour to
	// begin instead, so that the line measures the rule, not the edge.
	win := quota.Windows{Length: time.Hour, Location: quota.MoscowTime()}
	lasts := time.Duration(bursts)*every + time.Minute
	if now := time.Now(); win.Start(now).Add(win.Length).Sub(now) < lasts {
		out.Waited = time.Until(win.Start(now).Add(win.Length + 5*time.Second))
		select {
		case <-time.After(out.Waited):
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	e, err := newEnv(emulator.Config{LatencyMin: api, LatencyMax: api})
	if err != nil {
		return out, err
	}
	defer e.Close()
	n := bursts * size
	users := seedUsers(e, n)
	edits := make([]edit, n)
	for i, u := range users {
		edits[i] = requiredEdit(u, i)
	}
	inbox := nats.NewInbox()
	msgs, err := editMessages("b", edits, inbox)
	if err != nil {
		return out, err
	}
	res, err := e.collect(inbox, "b", n)
	if err != nil {
		return out, err
	}
	w, err := e.startWorker(workerSettings{Limiter: func(js jetstream.JetStream) (worker.Limiter, error) {
		return quota.NewShared(ctx, quota.SharedConfig{JetStream: js, Config: quota.Config{
			Windows: win,
			Limits:  quota.Limits{Catalogue: catalog.HourlyLimits},
		}})
	}})
	if err != nil {
		return out, err
	}
	defer w.stop()
	day, _, _ := catalog.HourlyLimits(op)
	out.Limit = day * 9 / 10 // the default reserve of 10%
	sent := make([]time.Time, n)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for b := range bursts {
		if b > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		for i := b * size; i < (b+1)*size; i++ {
			sent[i] = time.Now()
			if _, err := e.js.PublishMsgAsync(msgs[i], jetstream.WithStallWait(time.Minute)); err != nil {
				return out, fmt.Errorf("publish: %w", err)
			}
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		return out, ctx.Err()
	}
	if n := e.pubErrs.Load(); n > 0 {
		return out, fmt.Errorf("publish: %d commands refused by the server", n)
	}
	if err := res.wait(ctx, 2*time.Minute); err != nil {
		return out, err
	}
	st := e.emu.Stats()
	out.Calls, out.Rows, out.OutOfLimit = st.Calls[op], st.Rows[op], st.OutOfLimit[op]
	res.mu.Lock()
	defer res.mu.Unlock()
	for i, at := range res.at {
		out.Latency = append(out.Latency, at.Sub(sent[i]))
	}
	return out, nil
}

// burstLine is line 9.
func (r *runner) burstLine(ctx context.Context) error {
	const size, every, api = 150, 4 * time.Second, 20 * time.Millisecond
	b, err := burstLatency(ctx, r.cfg.Bursts, size, every, api)
	if err != nil {
		return err
	}
	p50, p99, worst := Percentile(b.Latency, 50), Percentile(b.Latency, 99), Percentile(b.Latency, 100)
	target := b.MaxWait + b.API + burstTarget
	// Each burst is one full packet and one of size − 100 rows: the
	// fewest calls, and what goes when no packet is held back.
	fewest := b.Bursts * ceilDiv(size, 100)
	r.add(Row{Line: "9", Metric: fmt.Sprintf("burst tail latency: %d bursts of %d every %s, real limits (%d calls/h), max-wait 2s, API %s", b.Bursts, size, every, b.Limit, api),
		Value: fmt.Sprintf("p99 %s publish → result (p50 %s, max %s; %s commands); %d calls (fewest %d), %.1f rows/call, %d OUT_OF_LIMIT",
			ms(p99), ms(p50), ms(worst), formatCount(float64(len(b.Latency))), b.Calls, fewest, float64(b.Rows)/float64(max(b.Calls, 1)), b.OutOfLimit),
		Target: fmt.Sprintf("p99 ≤ %s", ms(target)), Met: met(p99 <= target && b.OutOfLimit == 0)})
	waited := ""
	if b.Waited > 0 {
		waited = fmt.Sprintf(" This run waited %s for the next hour to begin, so as not to cross a window's edge (where the 2s guard on each side stops all calls).", b.Waited.Round(time.Second))
	}
	r.note("9", "Line 9: %d commands in %d bursts of %d (distinct seeded users, published asynchronously at once), a burst every %s, to a running worker with its default settings (max-wait 2s, max_pending 1000, concurrency 1, max_hold 1m) and the real limits: the shared limiter with hour windows in Moscow time, the catalogue's day limit of ClientUserEdit (250) less the default 10%% reserve = %d calls, the default 2s guard; the sandbox counts the catalogue's limits in its own hours and answers each call after %s (its --latency). Latency from each command's publish to its result on the producer's reply subject, over all commands. Each burst is a full packet, sent at once, and a partial one of %d rows, sent at max-wait unless the holding-back rule keeps it: the target (max-wait + API latency + %s) says it does not, because the rule forecasts arrivals over as long a span as is left of the window (an hour), so a burst counts as the burst it is, not as a rate of %s an hour that would exhaust the quota.%s",
		b.Bursts*size, b.Bursts, size, every, b.Limit, api, size%100, burstTarget, formatCount(float64(size)*float64(time.Hour/every)), waited)
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
