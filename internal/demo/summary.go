package demo

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
)

// maxLine bounds one line of the files the summary reads.
const maxLine = 16 << 20

// Inputs are what the demo's processes reported.
type Inputs struct {
	// Commands are the sample as sent (the file given to enqueue -f).
	Commands []Command
	// Results are enqueue -wait's output: one result a line.
	Results []contract.Result
	// Stats are the sandbox's /stats after the run.
	Stats emulator.Stats
	// Quota is the output of `worker quota` after the run.
	Quota Quota
	// Elapsed is how long enqueue took, from its start to its last result.
	Elapsed time.Duration
}

// ReadCommands reads a JSON lines sample, skipping blank lines and
// comments (#), as enqueue -f does.
func ReadCommands(r io.Reader) ([]Command, error) {
	var out []Command
	err := eachLine(r, func(n int, line []byte) error {
		if line[0] == '#' {
			return nil
		}
		var c Command
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("demo: commands: line %d: %w", n, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// ReadResults reads enqueue's results, one JSON object a line.
func ReadResults(r io.Reader) ([]contract.Result, error) {
	var out []contract.Result
	err := eachLine(r, func(n int, line []byte) error {
		var res contract.Result
		if err := json.Unmarshal(line, &res); err != nil {
			return fmt.Errorf("demo: results: line %d: %w", n, err)
		}
		out = append(out, res)
		return nil
	})
	return out, err
}

// ReadStats reads the sandbox's /stats.
func ReadStats(r io.Reader) (emulator.Stats, error) {
	var st emulator.Stats
	if err := json.NewDecoder(io.LimitReader(r, maxLine)).Decode(&st); err != nil {
		return st, fmt.Errorf("demo: stats: %w", err)
	}
	return st, nil
}

func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			if err := fn(n, line); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// Summary is what the demo achieved, counted.
type Summary struct {
	// Commands by operation, and in all.
	Commands   int
	CommandsOf map[string]int
	// Codes counts the results by code.
	Codes map[string]int
	// Refused are the results of commands the worker refused before any
	// call (they never had a batch); Naive the others: the calls one call
	// per command would have made.
	Refused, Naive int
	NaiveOf        map[string]int
	// Collapsed are the edits that had no row of their own: their
	// collapsed_into names the later edit whose row carried them;
	// CollapsedUsers the objects they were edits of.
	Collapsed, CollapsedObjects int
	// Calls and Rows made, by operation (the sandbox's counts), and in all.
	Calls, Rows int
	CallsOf     map[string]int
	RowsOf      map[string]int
	// OtherCalls are the calls of operations no command of the sample
	// names, by operation: the change feeds' polls. They are not in
	// Calls, which the naive way is compared with.
	OtherCalls map[string]int
	Elapsed    time.Duration
	Quota      Quota
	// APIErrors are the results with a code of the API other than
	// SUCCESS, by code (the service refused that row; the rest of its
	// packet went through).
	APIErrors map[string]int
}

// workerCodes are the worker's own codes for commands refused before any
// call.
var workerCodes = []string{contract.CodeInvalidCommand, contract.CodeInvalidFields, contract.CodeUnknownOperation, contract.CodeReplyRefused}

// Summarize counts what the inputs say. It fails unless every command got
// exactly one result, the demo's success check.
func Summarize(in Inputs) (Summary, error) {
	s := Summary{Commands: len(in.Commands), CommandsOf: map[string]int{}, Codes: map[string]int{}, NaiveOf: map[string]int{},
		CallsOf: map[string]int{}, RowsOf: map[string]int{}, OtherCalls: map[string]int{}, APIErrors: map[string]int{}, Elapsed: in.Elapsed, Quota: in.Quota}
	sent := map[string]Command{}
	for _, c := range in.Commands {
		if _, dup := sent[c.ID]; dup {
			return s, fmt.Errorf("demo: the sample has the id %q twice", c.ID)
		}
		sent[c.ID] = c
		s.CommandsOf[c.Op]++
	}
	got := map[string]contract.Result{}
	for _, r := range in.Results {
		if _, ok := sent[r.ID]; !ok {
			return s, fmt.Errorf("demo: a result for %q, which was not sent", r.ID)
		}
		if _, dup := got[r.ID]; dup {
			return s, fmt.Errorf("demo: two results for %q", r.ID)
		}
		got[r.ID] = r
	}
	if len(got) != len(sent) {
		var missing []string
		for _, c := range in.Commands {
			if _, ok := got[c.ID]; !ok {
				missing = append(missing, c.ID)
			}
		}
		return s, fmt.Errorf("demo: %d results for %d commands; none for %s", len(got), len(sent), strings.Join(first(missing, 5), ", "))
	}
	collapsedObjects := map[string]bool{}
	for _, c := range in.Commands {
		r := got[c.ID]
		s.Codes[r.Code]++
		switch {
		case slices.Contains(workerCodes, r.Code) && r.Batch == "":
			s.Refused++
		default:
			s.Naive++
			s.NaiveOf[c.Op]++
		}
		if r.Code != contract.CodeSuccess && !isWorkerCode(r.Code) {
			s.APIErrors[r.Code]++
		}
		if r.CollapsedInto != "" {
			s.Collapsed++
			if op, ok := catalog.Lookup(c.Op); ok && len(op.Key) == 1 {
				collapsedObjects[fmt.Sprint(c.Fields[op.Key[0]])] = true
			}
		}
	}
	s.CollapsedObjects = len(collapsedObjects)
	for op, n := range in.Stats.Calls {
		if n > 0 && s.CommandsOf[op] == 0 {
			s.OtherCalls[op] = n
			continue
		}
		if n > 0 {
			s.CallsOf[op], s.RowsOf[op] = n, in.Stats.Rows[op]
			s.Calls += n
			s.Rows += in.Stats.Rows[op]
		}
	}
	return s, nil
}

func isWorkerCode(code string) bool {
	return slices.Contains(workerCodes, code) || slices.Contains([]string{
		contract.CodeTransportError, contract.CodeUnknownOutcome, contract.CodeSOAPFault,
		contract.CodeResultTooLarge, contract.CodePoison}, code)
}

func first(xs []string, n int) []string { return xs[:min(n, len(xs))] }

// Write prints the summary for a newcomer: what was sent, what came of
// it, the calls made against the calls one call per command would have
// made, the time, the quota left; and last, what batching saved.
func (s Summary) Write(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	const indent = "                "
	p("Commands sent   %d: %s; each got exactly one result", s.Commands, byOp(s.CommandsOf))
	for _, code := range sortedKeys(s.Codes) {
		n := s.Codes[code]
		switch {
		case code == contract.CodeSuccess && s.Collapsed > 0:
			p("%s%5d %s (%d of them edits of %s folded into a later edit of the same user: see collapsed_into)", indent, n, code, s.Collapsed, count(s.CollapsedObjects, "user"))
		case slices.Contains(workerCodes, code):
			p("%s%5d %s: refused by the worker's checks, never sent to the API", indent, n, code)
		case s.APIErrors[code] > 0:
			p("%s%5d %s: refused by the API for its own row; the rest of its packet went through", indent, n, code)
		default:
			p("%s%5d %s", indent, n, code)
		}
	}
	p("API calls made  %d: %s", s.Calls, callsByOp(s.CallsOf, s.RowsOf))
	if len(s.OtherCalls) > 0 {
		total := 0
		for _, n := range s.OtherCalls {
			total += n
		}
		p("Feed calls      %d: %s (the change feeds' polls, not commands; not counted above)", total, callsByOp(s.OtherCalls, nil))
	}
	p("Naive way       %d calls: one per command that passed the checks", s.Naive)
	p("Time            %s from enqueue's start to the last result", s.Elapsed.Round(10*time.Millisecond))
	var left []string
	for _, op := range append(sortedKeys(s.CallsOf), sortedKeys(s.OtherCalls)...) {
		if r, ok := s.Quota.Row(op); ok {
			left = append(left, fmt.Sprintf("%s %d of %d", op, r.Remaining, r.Limit))
		}
	}
	p("Quota left      %s in this window (%s)", cmp.Or(strings.Join(left, ", "), "no call made"), s.Quota.Span())
	if s.Calls > 0 && s.Naive > s.Calls {
		saved := s.Naive - s.Calls
		p("")
		p("Batching saved %d of %d calls (%.0f%%): %d calls instead of %d, %.0f× fewer.",
			saved, s.Naive, 100*float64(saved)/float64(s.Naive), s.Calls, s.Naive, float64(s.Naive)/float64(s.Calls))
		for _, op := range sortedKeys(s.NaiveOf) {
			r, ok := s.Quota.Row(op)
			if !ok || r.Limit == 0 || s.NaiveOf[op] <= r.Limit/10 {
				continue
			}
			p("One call per %s would have taken %s of its quota (%d calls an hour); batched, its %d calls took %.0f%% of one hour's.",
				op, hours(float64(s.NaiveOf[op])/float64(r.Limit)), r.Limit, s.CallsOf[op], 100*float64(s.CallsOf[op])/float64(r.Limit))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// count writes "1 user", "2 users".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// hours writes a number of hours as "2.2 hours" or "40 minutes".
func hours(h float64) string {
	if h < 1 {
		return fmt.Sprintf("%.0f minutes", h*60)
	}
	return fmt.Sprintf("%.1f hours", h)
}

func byOp(m map[string]int) string {
	var parts []string
	for _, op := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%d %s", m[op], op))
	}
	return strings.Join(parts, ", ")
}

// callsByOp lists the calls of each operation, with the rows they
// carried when that is more than one a call.
func callsByOp(calls, rows map[string]int) string {
	var parts []string
	for _, op := range sortedKeys(calls) {
		if o, ok := catalog.Lookup(op); ok && o.Kind == catalog.BatchWrite && rows[op] > calls[op] {
			parts = append(parts, fmt.Sprintf("%s %d (packets of %d rows in all)", op, calls[op], rows[op]))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", op, calls[op]))
	}
	return strings.Join(parts, ", ")
}

// sortedKeys returns m's keys, the largest value first, then by name.
func sortedKeys(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	return keys
}
