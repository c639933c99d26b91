package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Summary is what a Publish or Results run did.
type Summary struct {
	// Commands is the number of distinct command ids (Publish) or ids
	// asked for (Results).
	Commands int
	// Generated is the number of ids Publish generated.
	Generated int
	// Malformed is the number of malformed commands, never published.
	Malformed int
	// Published is the number of publishes JetStream stored.
	Published int
	// Duplicates is the number of publishes JetStream acknowledged as
	// duplicates of a message it already had.
	Duplicates int
	// Failed is the number of publishes JetStream refused or did not
	// acknowledge.
	Failed int
	// Results is the number of results received (or found), one per id.
	Results int
	// ByCode counts the results by their code.
	ByCode map[string]int
	// Missing lists, in input order, the ids whose result did not come
	// (or was not found). Only with Wait, or from Results.
	Missing []string
	// Waited reports whether results were collected.
	Waited bool
	// Elapsed is the time the run took.
	Elapsed time.Duration
}

// OK reports whether every command succeeded: none malformed or failed to
// publish and, when results were collected, every one SUCCESS and none
// missing.
func (s Summary) OK() bool {
	if s.Malformed > 0 || s.Failed > 0 {
		return false
	}
	if !s.Waited {
		return true
	}
	return len(s.Missing) == 0 && s.ByCode[contract.CodeSuccess] == s.Commands
}

// problems says in a few words why a summary is not OK.
func (s Summary) problems() string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.Malformed, "malformed")
	add(s.Failed, "failed to publish")
	if s.Waited {
		add(s.Results-s.ByCode[contract.CodeSuccess], "not SUCCESS")
		add(len(s.Missing), "missing")
	}
	return strings.Join(p, ", ")
}

// entry states.
const (
	statePending = iota // published or being published, no result yet
	stateDone           // result received
	stateFailed         // publish failed: no result will come
)

// entry is what a publish run knows of one command id.
type entry struct {
	op       string
	state    int
	watching bool // its outcome is being watched in the bucket
}

// publishRun is the state of one Publish call, shared by the publishing
// loop, the acknowledgement loop, the reply subscription and the bucket
// watchers.
type publishRun struct {
	cl    *Client
	src   string
	total int       // the source's Total
	start time.Time // when Publish began
	wait  bool
	// disp draws the progress, nil when not drawn; est estimates when
	// the last result comes, nil when nobody looks.
	disp *display
	est  *estimator
	// stdout and stderr are the writers of results and notes: above the
	// bars while they are drawn.
	stdout, stderr io.Writer

	mu      sync.Mutex        // protects every field below
	entries map[string]*entry // by id
	order   []string          // ids in input order
	sum     Summary
	dups    []string       // ids acknowledged as duplicates, to watch
	open    int            // pending ids (when waiting)
	acked   bool           // every publish was acknowledged or failed
	done    chan struct{}  // closed once acked and open is 0
	closed  bool           // the summary was taken: late results are ignored
	read    int            // commands read from the source, malformed ones included
	byOp    map[string]int // distinct ids by operation
	waiting map[string]int // pending ids by operation, duplicates not counted
	lost    int            // ids whose first publish failed: no result comes
	sent    bool           // publishing is over: every publish acknowledged or failed
}

// pubAck is a publish whose acknowledgement is awaited.
type pubAck struct {
	id, op, where string
	first         bool // the first publish of its id in this run
	f             jetstream.PubAckFuture
}

// Publish publishes every command of src and, with Config.Wait, waits for
// their results and prints them to Stdout as JSON lines. Notes and the
// closing summary go to Stderr. The error wraps ErrIncomplete when the
// summary is not OK; the summary is returned in every case.
func (cl *Client) Publish(ctx context.Context, src Source) (Summary, error) {
	start := cl.cfg.Now()
	r := &publishRun{
		cl: cl, src: src.Name, total: src.Total, start: start, wait: cl.cfg.Wait,
		entries: map[string]*entry{},
		sum:     Summary{ByCode: map[string]int{}, Waited: cl.cfg.Wait},
		done:    make(chan struct{}),
		byOp:    map[string]int{},
		waiting: map[string]int{},
	}
	if cl.cfg.Progress != nil {
		r.disp = newDisplay(cl.cfg.Progress, r.wait, cl.cfg.ProgressEvery, cl.cfg.Now, false)
	}
	r.stderr = r.disp.above(cl.cfg.Stderr)
	r.stdout = cl.cfg.Stdout
	if r.disp != nil && sameTerminal(cl.cfg.Stdout, cl.cfg.Progress) {
		r.stdout = r.disp.above(cl.cfg.Stdout)
	}
	if r.wait && (r.disp != nil || cl.cfg.OnEstimate != nil) {
		r.est = newEstimator(cl.quota, cl.cfg.MaxRows, cl.cfg.CallTime, cl.cfg.Now, r.note)
	}

	var reply string
	if r.wait {
		reply = cl.nc.NewInbox()
		sub, err := cl.nc.Subscribe(reply, r.onResult)
		if err != nil {
			return r.sum, fmt.Errorf("enqueue: subscribe to the reply inbox: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		// Results must never be dropped as a slow consumer: the inbox
		// receives at most one message per command (plus duplicates).
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return r.sum, fmt.Errorf("enqueue: reply inbox: %w", err)
		}
		// The server must know the subscription before the worker can
		// answer the first command.
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = cl.nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			return r.sum, fmt.Errorf("enqueue: subscribe to the reply inbox: %w", err)
		}
	}
	// No CleanupPublisher at the end: every publish is acknowledged or
	// failed by then, the ack subscription is reused by the next Publish
	// and ends with the connection, and nats.go v1.55 can leak its
	// reconnect watcher when the publisher is cleaned up right after the
	// first publish.

	stopProgress := r.startProgress(ctx)
	defer stopProgress() // a no-op when it already ran

	// Acknowledgements are awaited in publish order by one goroutine; the
	// channel holds as many as JetStream keeps in flight.
	acks := make(chan pubAck, cl.cfg.MaxPending)
	var ackers sync.WaitGroup
	ackers.Go(func() {
		for a := range acks {
			r.awaitAck(ctx, a)
		}
	})
	r.publishAll(ctx, src, reply, start, acks)
	close(acks)
	ackers.Wait()
	r.mu.Lock()
	r.sent = true
	r.mu.Unlock()

	if r.wait {
		r.collect(ctx)
	}
	stopProgress()
	sum := r.finish(start)
	r.printSummary(sum)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("enqueue: interrupted: %w", err)
	}
	if !sum.OK() {
		return sum, fmt.Errorf("%w: %s", ErrIncomplete, sum.problems())
	}
	return sum, nil
}

// publishAll publishes the commands of src and hands each publish to the
// acknowledgement loop.
func (r *publishRun) publishAll(ctx context.Context, src Source, reply string, start time.Time, acks chan<- pubAck) {
	generated := 0
	seen := map[string]bool{} // operations given to the estimator
	for c, err := range src.Commands {
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.malformed(err)
			continue
		}
		where := r.where(c)
		// Every command needs an id: it is the Nats-Msg-Id that makes a
		// retried publish harmless, and the key of its result.
		if c.ID == "" {
			generated++
			c.ID = fmt.Sprintf("enq-%d-%d", start.UnixNano(), generated)
			r.mu.Lock()
			r.sum.Generated++
			r.mu.Unlock()
			r.note("%s: no \"id\", generated %s", where, c.ID)
		}
		// Encoding fails only on the command itself (a number msgpack
		// cannot carry exactly), so it counts as malformed, not failed.
		m, err := r.cl.message(c, reply)
		if err != nil {
			r.malformed(&LineError{Source: src.Name, Line: c.Line, Err: err})
			continue
		}
		// The ledger is read before an operation's first publish, so
		// that the estimate can tell the run's calls from earlier ones.
		if r.est != nil && !seen[c.Op] {
			seen[c.Op] = true
			r.est.addOp(ctx, c.Op)
		}
		// Registered before the publish: the worker may answer before
		// PublishMsgAsync even returns, and the result must find its id.
		first := r.register(c, where)
		f, err := r.cl.publishAsync(ctx, m)
		if err != nil {
			r.failed(c.ID, where, first, err)
			continue
		}
		select {
		case acks <- pubAck{id: c.ID, op: c.Op, where: where, first: first, f: f}:
		case <-ctx.Done():
			r.failed(c.ID, where, first, ctx.Err())
			return
		}
	}
}

// publishAsync publishes m, waiting while JetStream has MaxPending
// publishes in flight.
func (cl *Client) publishAsync(ctx context.Context, m *nats.Msg) (jetstream.PubAckFuture, error) {
	for {
		f, err := cl.js.PublishMsgAsync(m)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		// PublishMsgAsync waited its stall time already: try again
		// unless the run is over.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// awaitAck waits for one publish's acknowledgement.
func (r *publishRun) awaitAck(ctx context.Context, a pubAck) {
	select {
	case ack := <-a.f.Ok():
		r.ack(a, ack.Duplicate)
	case err := <-a.f.Err():
		r.failed(a.id, a.where, a.first, err)
	case <-ctx.Done():
		r.failed(a.id, a.where, a.first, ctx.Err())
	}
}

// collect waits until every published command has its result, the
// timeout passes or ctx ends. Duplicates are looked up in the outcome
// bucket meanwhile.
func (r *publishRun) collect(ctx context.Context) {
	r.mu.Lock()
	r.acked = true
	r.checkDone()
	dups := slices.Clone(r.dups)
	r.mu.Unlock()

	// Watchers end with the wait, so no goroutine outlives Publish.
	wctx, cancel := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	if len(dups) > 0 {
		r.watchOutcomes(wctx, &watchers, dups)
	}
	// The timeout starts once everything is published: publishing a big
	// file under back-pressure is not time spent waiting for the worker.
	timer := time.NewTimer(r.cl.cfg.Timeout)
	select {
	case <-r.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	cancel()
	watchers.Wait()
}

// watchChunk is how many outcome keys one bucket watcher filters on.
const watchChunk = 256

// watchOutcomes starts watchers of the outcome keys of the duplicate ids,
// which deliver each final outcome's result until ctx ends.
func (r *publishRun) watchOutcomes(ctx context.Context, wg *sync.WaitGroup, ids []string) {
	kv, err := r.cl.js.KeyValue(ctx, r.cl.cfg.Bucket)
	if err != nil {
		r.note("%d duplicates: cannot read their outcomes from bucket %s: %v", len(ids), r.cl.cfg.Bucket, err)
		return
	}
	// One watcher per chunk of keys rather than per key: a re-run of a
	// whole file makes every command a duplicate, and thousands of
	// consumers would load the server. Chunks keep each consumer's filter
	// list (sent in one API request) small.
	keys := map[string]string{} // outcome key → id
	r.mu.Lock()
	for _, id := range ids {
		op := r.entries[id].op
		key := contract.OutcomeKey(op, id)
		if !validKey(key) {
			r.note("%s (%s): duplicate whose outcome key %q is not a valid key", id, op, key)
			continue
		}
		keys[key] = id
	}
	r.mu.Unlock()
	for chunk := range slices.Chunk(slices.Sorted(maps.Keys(keys)), watchChunk) {
		want := make(map[string]string, len(chunk))
		for _, k := range chunk {
			want[k] = keys[k]
		}
		wg.Go(func() { r.watchKeys(ctx, kv, want) })
	}
}

// watchKeys watches the outcome keys of want (key → id) until each is
// final or ctx ends. The watcher delivers each key's current value first,
// so an outcome stored before the watch started is not missed.
func (r *publishRun) watchKeys(ctx context.Context, kv jetstream.KeyValue, want map[string]string) {
	w, err := kv.WatchFiltered(ctx, slices.Collect(maps.Keys(want)))
	if err != nil {
		r.note("watch %d outcomes in bucket %s: %v", len(want), r.cl.cfg.Bucket, err)
		return
	}
	defer func() { _ = w.Stop() }()
	for len(want) > 0 {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // end of the initial values, or a delete
			}
			id, ok := want[e.Key()]
			if !ok {
				continue
			}
			o, err := contract.DecodeOutcome(e.Value())
			if err != nil {
				r.note("%s: outcome in bucket %s: %v", id, r.cl.cfg.Bucket, err)
				continue
			}
			if o.State != contract.StateFinal {
				continue // sent to the API; the final outcome follows
			}
			res := *o.Result
			res.ID = id
			r.deliver(res, false)
			delete(want, e.Key())
		}
	}
}

// validKey reports whether k is a valid key-value key.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for _, c := range []byte(k) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '/' || c == '=' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// onResult handles a message on the reply inbox.
func (r *publishRun) onResult(m *nats.Msg) {
	res, err := contract.DecodeResult(m.Data)
	if err != nil {
		r.note("unreadable result on the reply inbox: %v", err)
		return
	}
	r.deliver(res, true)
}

// deliver records and prints the first result of a pending id; later
// ones (the worker is at-least-once) are ignored. inbox says it came on
// the reply inbox, from a call of this run.
func (r *publishRun) deliver(res contract.Result, inbox bool) {
	line, err := json.Marshal(res)
	if err != nil {
		r.note("%s: result cannot be printed as JSON: %v", res.ID, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Ignored: results after the summary, ids this run did not publish
	// (none should reach a private inbox), a second result of an id, and
	// results of ids whose publish failed (the summary already counts
	// them as failed).
	e := r.entries[res.ID]
	if r.closed || e == nil || e.state != statePending {
		return
	}
	e.state = stateDone
	if !e.watching {
		r.waiting[e.op]--
	}
	r.sum.Results++
	r.sum.ByCode[res.Code]++
	r.open--
	r.checkDone()
	// Only the inbox's results count for the estimate: a duplicate's
	// outcome was decided by a call of an earlier run. Observed under
	// r.mu, so that the estimate sees commands waiting and calls
	// answered as of one moment.
	if inbox && r.est != nil {
		r.est.observe(e.op, res)
	}
	_, _ = r.stdout.Write(append(line, '\n'))
}

// register records a command about to be published and reports whether
// its id is new to the run. A repeated id keeps its first entry: JetStream
// drops the repeat as a duplicate.
func (r *publishRun) register(c Command, where string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read++
	if _, ok := r.entries[c.ID]; ok {
		r.noteLocked("%s: id %s repeats an earlier command; JetStream drops it as a duplicate", where, c.ID)
		return false
	}
	r.entries[c.ID] = &entry{op: c.Op}
	r.order = append(r.order, c.ID)
	r.sum.Commands++
	r.byOp[c.Op]++
	r.waiting[c.Op]++
	r.open++
	return true
}

// ack records an acknowledged publish.
func (r *publishRun) ack(a pubAck, dup bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !dup {
		r.sum.Published++
		return
	}
	// The stream already had this Nats-Msg-Id: the worker will never see
	// this publish, so its result cannot come on this run's inbox.
	r.sum.Duplicates++
	e := r.entries[a.id]
	if !r.wait {
		r.noteLocked("%s: id %s is a duplicate: the stream already had it, the worker will not run it again (see: enqueue result --op %s %s)", a.where, a.id, a.op, a.id)
		return
	}
	if e.state == statePending && !e.watching {
		e.watching = true
		r.waiting[e.op]--
		r.dups = append(r.dups, a.id)
	}
}

// failed records a publish that failed. Only the first publish of an id
// decides that no result will come: a failed repeat leaves it pending.
func (r *publishRun) failed(id, where string, first bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Failed++
	r.noteLocked("%s: publish %s: %v", where, id, err)
	if e := r.entries[id]; first && e.state == statePending {
		e.state = stateFailed
		if !e.watching {
			r.waiting[e.op]--
		}
		r.lost++
		r.open--
		r.checkDone()
	}
}

// malformed records a command that cannot be published.
func (r *publishRun) malformed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read++
	r.sum.Malformed++
	r.noteLocked("%v", err)
}

// checkDone closes done once every publish is acknowledged and every
// pending id has its result. r.mu is held.
func (r *publishRun) checkDone() {
	if r.acked && r.open == 0 {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
}

// finish closes the run to late results and returns its summary.
func (r *publishRun) finish(start time.Time) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	sum := r.sum
	sum.ByCode = maps.Clone(r.sum.ByCode)
	if r.wait {
		for _, id := range r.order {
			if r.entries[id].state == statePending {
				sum.Missing = append(sum.Missing, id)
			}
		}
	}
	sum.Elapsed = r.cl.cfg.Now().Sub(start)
	return sum
}

// printSummary writes the closing summary to Stderr.
func (r *publishRun) printSummary(s Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.cl.cfg.Stderr
	fmt.Fprintf(w, "enqueue: %s from %s: %d published, %s, %d failed to publish, %d malformed, %s generated; %s elapsed\n",
		count(s.Commands, "command"), r.src, s.Published, count(s.Duplicates, "duplicate"), s.Failed, s.Malformed,
		count(s.Generated, "id"), s.Elapsed.Round(time.Millisecond))
	if !s.Waited {
		return
	}
	fmt.Fprintf(w, "enqueue: %s%s\n", count(s.Results, "result"), byCode(s.ByCode))
	if len(s.Missing) > 0 {
		fmt.Fprintf(w, "enqueue: %d missing, no result within %s:\n", len(s.Missing), r.cl.cfg.Timeout)
		for _, id := range s.Missing {
			e := r.entries[id]
			if e.watching {
				fmt.Fprintf(w, "  %s (%s): duplicate, no final outcome in bucket %s\n", id, e.op, r.cl.cfg.Bucket)
				continue
			}
			fmt.Fprintf(w, "  %s (%s)\n", id, e.op)
		}
	}
}

// count returns "1 command", "2 commands".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// byCode formats counts by code, SUCCESS first then by name:
// ": SUCCESS 3, INVALID_FIELDS 1".
func byCode(m map[string]int) string {
	codes := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == contract.CodeSuccess:
			return -1
		case b == contract.CodeSuccess:
			return 1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, c := range codes {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", c, m[c])
	}
	return b.String()
}

// where names a command in notes: "cmds.jsonl:3 ClientUserEdit".
func (r *publishRun) where(c Command) string {
	if r.src == argsName {
		return fmt.Sprintf("argument pair %d %s", c.Line, c.Op)
	}
	return fmt.Sprintf("%s:%d %s", r.src, c.Line, c.Op)
}

// note writes a line to Stderr.
func (r *publishRun) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteLocked(format, args...)
}

// noteLocked writes a line to Stderr, above the bars if any. r.mu is
// held, so that lines never interleave.
func (r *publishRun) noteLocked(format string, args ...any) {
	fmt.Fprintf(r.stderr, "enqueue: "+format+"\n", args...)
}
