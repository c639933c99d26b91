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

	"github.com/onec-connect/connect-bridge/connect"
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
	stateFailed         // publish failed or refused: no result will come
)

// entry is what a publish run knows of one command id.
type entry struct {
	op        string
	state     int
	duplicate bool // the stream had it already: its result is the outcome bucket's
}

// publishRun is the state of one Publish call, shared by the publishing
// loop, the acknowledgement loop and the loop of results.
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
	ld            *connect.Loaded
}

// Publish publishes every command of src, in order, through the SDK's
// loader and, with Config.Wait, waits for their results and prints them
// to Stdout as JSON lines. Notes and the closing summary go to Stderr.
// The error wraps ErrIncomplete when the summary is not OK; the summary
// is returned in every case.
func (cl *Client) Publish(ctx context.Context, src Source) (Summary, error) {
	// The SDK subscribes to the client's reply subjects before anything
	// is published, sets each command's Nats-Msg-Id and reply subject,
	// and reads from the outcome bucket the results of duplicates and of
	// replies that did not come.
	sdk, err := cl.sdk()
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = sdk.Close() }()
	ld, err := sdk.NewLoader(cl.cfg.MaxPending)
	if err != nil {
		return Summary{}, fmt.Errorf("enqueue: %w", err)
	}
	defer ld.Close()
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

	stopProgress := r.startProgress(ctx)
	defer stopProgress() // a no-op when it already ran

	// Results are handed over by one goroutine, until the summary.
	rctx, stopResults := context.WithCancel(ctx)
	defer stopResults()
	var results sync.WaitGroup
	if r.wait {
		results.Go(func() {
			for {
				replies, err := ld.Next(rctx)
				if err != nil {
					return
				}
				for _, rep := range replies {
					r.deliver(rep)
				}
			}
		})
	}
	// Acknowledgements are awaited in publish order by one goroutine; the
	// channel holds as many as the loader keeps in flight.
	acks := make(chan pubAck, cl.cfg.MaxPending)
	var ackers sync.WaitGroup
	ackers.Go(func() {
		for a := range acks {
			dup, err := ld.Stored(ctx, a.ld)
			if err != nil {
				r.failed(a.id, a.where, a.first, err)
				continue
			}
			r.ack(a, dup)
		}
	})
	r.publishAll(ctx, ld, src, start, acks)
	close(acks)
	ackers.Wait()
	r.mu.Lock()
	r.sent = true
	r.mu.Unlock()

	if r.wait {
		r.collect(ctx)
	}
	stopResults()
	results.Wait()
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
func (r *publishRun) publishAll(ctx context.Context, ld *connect.Loader, src Source, start time.Time, acks chan<- pubAck) {
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
		// retried publish harmless, and the key of its result. The SDK
		// would make one too, but enqueue's are reported and time-ordered.
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
		fields, err := r.cl.fields(c)
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
		// Publish even returns, and the result must find its id. A
		// repeated id is published without waiting: the stream drops it.
		first := r.register(c, where)
		cmd := connect.Command{ID: c.ID, Op: connect.Raw{Op: c.Op, Fields: fields}}
		l, err := ld.Publish(ctx, cmd, r.wait && first)
		if err != nil {
			var re *connect.ResultError
			if errors.As(err, &re) && re.Local {
				r.refused(c.ID, first, &LineError{Source: src.Name, Line: c.Line, Err: err})
				continue
			}
			r.failed(c.ID, where, first, err)
			continue
		}
		select {
		case acks <- pubAck{id: c.ID, op: c.Op, where: where, first: first, ld: l}:
		case <-ctx.Done():
			r.failed(c.ID, where, first, ctx.Err())
			return
		}
	}
}

// collect waits until every published command has its result, the
// timeout passes or ctx ends.
func (r *publishRun) collect(ctx context.Context) {
	r.mu.Lock()
	r.acked = true
	r.checkDone()
	r.mu.Unlock()
	// The timeout starts once everything is published: publishing a big
	// file under back-pressure is not time spent waiting for the worker.
	timer := time.NewTimer(r.cl.cfg.Timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// deliver records and prints the first result of a pending id; later
// ones (the worker is at-least-once, an id may repeat) are ignored.
func (r *publishRun) deliver(rep connect.Reply) {
	if rep.Result.Code == "" {
		return // no result: the SDK client was closed first
	}
	res := resultOf(rep.Result, rep.Err)
	line, err := json.Marshal(res)
	if err != nil {
		r.note("%s: result cannot be printed as JSON: %v", res.ID, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Ignored: results after the summary, a second result of an id, and
	// results of ids whose publish failed (the summary already counts
	// them as failed).
	e := r.entries[res.ID]
	if r.closed || e == nil || e.state != statePending {
		return
	}
	e.state = stateDone
	if !e.duplicate {
		r.waiting[e.op]--
	}
	r.sum.Results++
	r.sum.ByCode[res.Code]++
	r.open--
	r.checkDone()
	// Only results of this run's calls count for the estimate: a
	// duplicate's outcome was decided by a call of an earlier run.
	// Observed under r.mu, so that the estimate sees commands waiting
	// and calls answered as of one moment.
	if !e.duplicate && r.est != nil {
		r.est.observe(e.op, res)
	}
	_, _ = r.stdout.Write(append(line, '\n'))
}

// resultOf is the SDK's result as the worker wrote it, for printing.
func resultOf(r connect.Result, err error) contract.Result {
	out := contract.Result{
		ID: r.ID, Op: r.Op, Code: r.Code, Data: r.Data, Error: r.Message,
		Batch: r.Batch, Row: r.Row, Rows: r.Rows, Attempts: r.Attempts,
		CollapsedInto: r.CollapsedInto, At: r.At,
	}
	var re *connect.ResultError
	if errors.As(err, &re) {
		for _, f := range re.Fields {
			out.Fields = append(out.Fields, contract.FieldProblem{Field: f.Field, Problem: f.Problem})
		}
	}
	return out
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
	// this publish; the SDK reads its result from the outcome bucket.
	r.sum.Duplicates++
	e := r.entries[a.id]
	if !r.wait {
		r.noteLocked("%s: id %s is a duplicate: the stream already had it, the worker will not run it again (see: enqueue result --op %s %s)", a.where, a.id, a.op, a.id)
		return
	}
	if a.first && e.state == statePending && !e.duplicate {
		e.duplicate = true
		r.waiting[e.op]--
	}
}

// failed records a publish that failed. Only the first publish of an id
// decides that no result will come: a failed repeat leaves it pending.
func (r *publishRun) failed(id, where string, first bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Failed++
	r.noteLocked("%s: publish %s: %v", where, id, err)
	r.lostLocked(id, first)
}

// lostLocked records that no result of id will come, when first is its
// first command. r.mu is held.
func (r *publishRun) lostLocked(id string, first bool) {
	if e := r.entries[id]; first && e.state == statePending {
		e.state = stateFailed
		if !e.duplicate {
			r.waiting[e.op]--
		}
		r.lost++
		r.open--
		r.checkDone()
	}
}

// refused records a command the SDK refused to publish (its payload is
// too large): malformed, as a command that cannot be encoded is.
func (r *publishRun) refused(id string, first bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Malformed++
	r.noteLocked("%v", err)
	// Not a command of the run after all: it never counted as read twice.
	if e := r.entries[id]; first && e.state == statePending {
		e.state = stateFailed
		r.waiting[e.op]--
		r.byOp[e.op]--
		r.sum.Commands--
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
			if e.duplicate {
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
