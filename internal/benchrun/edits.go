package benchrun

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Lines 10 and 11: how few calls edits cost when they are not the tidy
// case of lines 2–6 (distinct objects, one set of fields). Line 10 edits
// a few objects many times (hot objects): edits of one object go one row
// at a time, so without collapse 100 edits of one object would be 100
// calls; with it (the Edit family's default) the waiting edits of one
// object and one shape are one row carrying the last one's values.
// Line 11 varies the optional fields at random: a packet carries one set
// of fields, so every shape is a packet of its own, and the fewest calls
// are Σ over shapes ⌈commands of the shape ÷ 100⌉.

// editRun is a line-10 or line-11 measurement: edits published at once to
// a running worker, limits off, no API latency.
type editRun struct {
	N, Calls, Rows int
	// Collapsed are the results that carry collapsed_into.
	Collapsed int
	// Elapsed is from the first publish to the last result.
	Elapsed time.Duration
}

// runEdits publishes edits at once to a running worker with settings set
// and waits for every result; check then looks at the results and the
// sandbox before the world is closed.
func runEdits(ctx context.Context, users int, build func(users []string) []edit, set worker.OpSettings,
	check func(e *env, edits []edit, res *results) error) (editRun, error) {
	e, err := newEnv(emulator.Config{Limits: map[string]int{"*": unlimited}})
	if err != nil {
		return editRun{}, err
	}
	defer e.Close()
	edits := build(seedUsers(e, users))
	inbox := nats.NewInbox()
	msgs, err := editMessages("e", edits, inbox)
	if err != nil {
		return editRun{}, err
	}
	res, err := e.collect(inbox, "e", len(edits))
	if err != nil {
		return editRun{}, err
	}
	w, err := e.startWorker(workerSettings{Defaults: set})
	if err != nil {
		return editRun{}, err
	}
	defer w.stop()
	start, err := e.publishAll(ctx, msgs)
	if err != nil {
		return editRun{}, err
	}
	if err := res.wait(ctx, 2*time.Minute); err != nil {
		return editRun{}, err
	}
	st := e.emu.Stats()
	out := editRun{N: len(edits), Calls: st.Calls[op], Rows: st.Rows[op], Elapsed: res.lastAt().Sub(start)}
	res.mu.Lock()
	defer res.mu.Unlock()
	for _, c := range res.collapsed {
		if c != "" {
			out.Collapsed++
		}
	}
	return out, check(e, edits, res)
}

// hotEdits are perUser edits of each user, one shape (the required
// fields), interleaved: edit i is of user i mod len(users), its values
// the i-th.
func hotEdits(perUser int) func(users []string) []edit {
	return func(users []string) []edit {
		edits := make([]edit, 0, perUser*len(users))
		for i := range perUser * len(users) {
			edits = append(edits, requiredEdit(users[i%len(users)], i))
		}
		return edits
	}
}

// checkHot checks that every object ended on its last edit, and that
// every collapsed result names a later edit of its own object that had
// a row.
func checkHot(e *env, edits []edit, res *results) error {
	last := map[string]int{}
	for i, ed := range edits {
		last[ed["ClientUserID"].(string)] = i
	}
	for user, i := range last {
		obj, ok := e.emu.Get("ClientUser", user)
		if !ok {
			return fmt.Errorf("user %s is gone", user)
		}
		if got, want := obj.Fields["Name"].Text, edits[i]["Name"]; got != want {
			return fmt.Errorf("user %s ended on the edit named %q, not on its last, %q", user, got, want)
		}
	}
	for i, into := range res.collapsed {
		if into == "" {
			continue
		}
		j, err := strconv.Atoi(strings.TrimPrefix(into, res.prefix))
		switch {
		case err != nil || j <= i || j >= len(edits):
			return fmt.Errorf("command %d collapsed into %q, not a later command", i, into)
		case edits[j]["ClientUserID"] != edits[i]["ClientUserID"]:
			return fmt.Errorf("command %d collapsed into %q, an edit of another user", i, into)
		case res.collapsed[j] != "":
			return fmt.Errorf("command %d collapsed into %q, which was collapsed itself", i, into)
		}
	}
	return nil
}

// optionalFields are the optional parameters of ClientUserEdit that line
// 11 varies (DepartmentID is left out: it must name a department of the
// account).
var optionalFields = []string{"Surname", "SecondaryName", "Birthday", "Post"}

// mixedEdits are one edit per user, each optional field present or not
// at random (seeded: every run sends the same edits).
func mixedEdits(users []string) []edit {
	rnd := rand.New(rand.NewPCG(11, 11))
	edits := make([]edit, len(users))
	for i, u := range users {
		ed := requiredEdit(u, i)
		for _, f := range optionalFields {
			if rnd.IntN(2) == 0 {
				continue
			}
			switch f {
			case "Birthday":
				ed[f] = fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, 1+i%12, 1+i%28)
			default:
				ed[f] = f[:4] + " " + strconv.Itoa(i)
			}
		}
		edits[i] = ed
	}
	return edits
}

// shapeOf names an edit's set of fields.
func shapeOf(ed edit) string {
	names := make([]string, 0, len(ed))
	for f := range ed {
		names = append(names, f)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// fewestCalls is Σ over shapes ⌈commands of the shape ÷ rows⌉: the
// fewest calls that can carry edits of distinct objects, a packet holding
// one shape. It also returns the number of shapes.
func fewestCalls(edits []edit, rows int) (calls, shapes int) {
	n := map[string]int{}
	for _, ed := range edits {
		n[shapeOf(ed)]++
	}
	for _, c := range n {
		calls += ceilDiv(c, rows)
	}
	return calls, len(n)
}

// hotLine is line 10, with the default max_pending and with one that
// holds every edit.
func (r *runner) hotLine(ctx context.Context) error {
	const users, perUser = 20, 100
	n := users * perUser
	for _, c := range []struct {
		line    string
		pending int
	}{{"10a", 0}, {"10b", n}} {
		set := worker.OpSettings{MaxPending: c.pending}
		held := cmp.Or(c.pending, 1000)
		// A lane holds at most max_pending commands, collapsed ones
		// included: the fewest calls are one per max_pending edits.
		fewest := ceilDiv(n, held)
		h, err := runEdits(ctx, users, hotEdits(perUser), set, checkHot)
		if err != nil {
			return fmt.Errorf("%s: %w", c.line, err)
		}
		r.add(Row{Line: c.line, Metric: fmt.Sprintf("hot objects: %s edits of %d users (%d each, one shape), published at once; max_pending %s", formatCount(float64(n)), users, perUser, formatCount(float64(held))),
			Value: fmt.Sprintf("%s, %d rows; %s of %s results collapsed into a later edit's row; every user ended on its last edit (%s)",
				callCount(h.Calls), h.Rows, formatCount(float64(h.Collapsed)), formatCount(float64(n)), h.Elapsed.Round(time.Millisecond)),
			Target: callCount(fewest) + ", the fewest", Met: met(h.Calls == fewest)})
	}
	r.note("10", "Line 10: %d ClientUserEdit commands on %d seeded users, %d each, all with the required fields only (one shape), interleaved (edit i is of user i mod %d), published asynchronously at once to a running worker with its default settings (max-wait 2s, collapse on), limits off, no API latency. Waiting edits of one user and one shape collapse into one row, sent with the last one's values; every other edit's result says so (collapsed_into: the id of the command whose row carried it). The line checks that every user's name in the sandbox is its last edit's, and that every collapsed_into names a later edit of the same user that had a row. A lane holds at most max_pending commands (collapsed ones too, the consumer's MaxAckPending): with the default 1,000 the first thousand go in one call of %d rows and the next thousand in a second, so the fewest is ⌈%s ÷ max_pending⌉; with max_pending %s (10b) everything is in one call.",
		n, users, perUser, users, users, formatCount(float64(n)), formatCount(float64(n)))
	return nil
}

// shapesLine is line 11.
func (r *runner) shapesLine(ctx context.Context) error {
	const n = 1000
	var least, shapes int
	m, err := runEdits(ctx, n, mixedEdits, worker.OpSettings{}, func(_ *env, edits []edit, _ *results) error {
		least, shapes = fewestCalls(edits, catalogRows())
		return nil
	})
	if err != nil {
		return err
	}
	r.add(Row{Line: "11", Metric: fmt.Sprintf("mixed shapes: %s edits of distinct users, optional fields (%s) each present at random", formatCount(n), strings.Join(optionalFields, ", ")),
		Value: fmt.Sprintf("%d calls for %d shapes; the fewest, Σ over shapes ⌈n ÷ 100⌉, is %d (%.1f rows/call, %s)",
			m.Calls, shapes, least, float64(m.Rows)/float64(max(m.Calls, 1)), m.Elapsed.Round(time.Millisecond)),
		Target: "the fewest", Met: met(m.Calls == least)})
	r.note("11", "Line 11: %s ClientUserEdit commands, one per seeded user (distinct users, so nothing collapses and no edit waits behind another of its object), each carrying the required fields and each of %s with probability ½ (a seeded random source: every run sends the same commands), published at once to a running worker with its default settings, limits off, no API latency. A packet carries one set of fields (a field a command did not mention is never sent empty), so the fewest calls are Σ over the shapes present of ⌈commands of the shape ÷ 100⌉.",
		formatCount(n), strings.Join(optionalFields, ", "))
	return nil
}

// callCount writes "1 call", "2 calls".
func callCount(n int) string {
	if n == 1 {
		return "1 call"
	}
	return formatCount(float64(n)) + " calls"
}

// catalogRows is ClientUserEdit's packet size.
func catalogRows() int {
	o, _ := catalog.Lookup(op)
	return o.MaxRows
}
