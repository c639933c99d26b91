package demo

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}

// TestExampleFileIsTheSample: examples/demo.jsonl, which `make run`
// sends, is what the generator writes.
func TestExampleFileIsTheSample(t *testing.T) {
	t.Parallel()
	var want bytes.Buffer
	require.NoError(t, DefaultPlan.Write(&want))
	got, err := os.ReadFile("../../examples/demo.jsonl")
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got), "regenerate it: go run ./cmd/demo commands > examples/demo.jsonl")
}

// TestSampleShowsWhatItPromises: the sample's commands are what the demo
// says — valid but for the three invalid ones, unique ids, users the
// sandbox seeds (but the missing one), hot users edited many times.
func TestSampleShowsWhatItPromises(t *testing.T) {
	t.Parallel()
	p := DefaultPlan
	cmds := p.Commands()
	seeded := map[string]bool{}
	for i := 1; i <= p.SeedUsers(); i++ {
		seeded[UserID(i)] = true
	}
	ids := map[string]bool{}
	invalid, missing := 0, 0
	editsOf := map[any]int{}
	for _, c := range cmds {
		require.False(t, ids[c.ID], "id %s twice", c.ID)
		ids[c.ID] = true
		op, ok := catalog.Lookup(c.Op)
		require.True(t, ok, c.Op)
		_, err := op.Fields(c.Fields)
		if strings.HasPrefix(c.ID, "demo-invalid-") {
			require.Error(t, err, c.ID)
			invalid++
			continue
		}
		require.NoError(t, err, c.ID)
		if c.Op != "ClientUserEdit" {
			continue
		}
		editsOf[c.Fields["ClientUserID"]]++
		if !seeded[c.Fields["ClientUserID"].(string)] {
			missing++
		}
	}
	require.Equal(t, 3, invalid)
	require.Equal(t, 1, missing, "one edit of a user the sandbox does not have")
	hot := 0
	for _, n := range editsOf {
		if n > 1 {
			require.Equal(t, p.HotEdits, n)
			hot++
		}
	}
	require.Equal(t, p.Hot, hot)
	require.Equal(t, p.Plain+p.Profiles+p.Hot*p.HotEdits+invalid+missing+2, len(cmds))
}

// TestUserIDIsTheSandboxsNumbering: the sample edits the users
// connect-emulator --seed-client-users creates.
func TestUserIDIsTheSandboxsNumbering(t *testing.T) {
	t.Parallel()
	emu, err := emulator.New(emulator.Config{Seed: 1})
	require.NoError(t, err)
	require.Equal(t, []string{UserID(1), UserID(2), UserID(3)}, emu.SeedClientUsers(3))
}

// quotaOutput is what `worker quota` printed in a demo run.
const quotaOutput = `window 2026-12-01 14:00:00 – 15:00:00 MSK (1h0m0s), night hours: none

       OPERATION  LIMIT  USED  REMAINING          STATE  RESETS IN
  ClientUserEdit    225     6        219           open     16m10s
   DepartmentAdd    225     1        224           open     16m10s
      RegionRead    225   225          0   OUT_OF_LIMIT     16m10s

84 other operations made no call in this window.
`

func TestParseQuota(t *testing.T) {
	t.Parallel()
	q, err := ParseQuota(strings.NewReader(quotaOutput))
	require.NoError(t, err)
	require.Equal(t, "2026-12-01 14:00:00 – 15:00:00 MSK", q.Span())
	require.Equal(t, []QuotaRow{
		{Op: "ClientUserEdit", Limit: 225, Used: 6, Remaining: 219},
		{Op: "DepartmentAdd", Limit: 225, Used: 1, Remaining: 224},
		{Op: "RegionRead", Limit: 225, Used: 225, Remaining: 0},
	}, q.Rows)
	r, ok := q.Row("DepartmentAdd")
	require.True(t, ok)
	require.Equal(t, 224, r.Remaining)
	_, ok = q.Row("ClientAdd")
	require.False(t, ok)

	cases := []struct{ name, out, fails string }{
		{"not the quota's output", "hello\n", "no window line"},
		{"another header", "window x\n\n OPERATION USED LIMIT\n", "unexpected header"},
		{"a short row", "window x\n\n OPERATION LIMIT USED REMAINING STATE RESETS IN\n ClientUserEdit 225\n", "2 columns"},
		{"a word for a number", "window x\n\n OPERATION LIMIT USED REMAINING STATE RESETS IN\n ClientUserEdit 225 six 219 open 1m\n", "column 3 is not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseQuota(strings.NewReader(c.out))
			require.ErrorContains(t, err, c.fails)
		})
	}
}

func TestFreeAddrsDiffer(t *testing.T) {
	t.Parallel()
	addrs, err := FreeAddrs(3)
	require.NoError(t, err)
	require.Len(t, addrs, 3)
	require.NotEqual(t, addrs[0], addrs[1])
	require.NotEqual(t, addrs[1], addrs[2])
	require.NotEqual(t, addrs[0], addrs[2])
}

// smallRun is a run of four commands: two edits of one user, the first
// collapsed into the second, an invalid one and an edit the API refused.
func smallRun() Inputs {
	cmds := []Command{
		{Op: "ClientUserEdit", ID: "a", Fields: map[string]any{"ClientUserID": UserID(1)}},
		{Op: "ClientUserEdit", ID: "b", Fields: map[string]any{"ClientUserID": UserID(1)}},
		{Op: "ClientUserEdit", ID: "c", Fields: map[string]any{"ClientUserID": "x"}},
		{Op: "ClientUserEdit", ID: "d", Fields: map[string]any{"ClientUserID": UserID(2)}},
		{Op: "RegionRead", ID: "e", Fields: map[string]any{}},
	}
	res := []contract.Result{
		{ID: "a", Code: contract.CodeSuccess, Batch: "p1", CollapsedInto: "b"},
		{ID: "b", Code: contract.CodeSuccess, Batch: "p1"},
		{ID: "c", Code: contract.CodeInvalidFields},
		{ID: "d", Code: "OBJECT_NOT_FOUND", Batch: "p1"},
		{ID: "e", Code: contract.CodeSuccess, Batch: "p2"},
	}
	q, _ := ParseQuota(strings.NewReader(quotaOutput))
	return Inputs{Commands: cmds, Results: res, Quota: q, Elapsed: 2100 * time.Millisecond,
		Stats: emulator.Stats{Calls: map[string]int{"ClientUserEdit": 1, "RegionRead": 1, "ClientAdd": 0, "ClientUserRead": 3}, Rows: map[string]int{"ClientUserEdit": 2, "RegionRead": 85}}}
}

func TestSummarizeCounts(t *testing.T) {
	t.Parallel()
	s, err := Summarize(smallRun())
	require.NoError(t, err)
	require.Equal(t, 5, s.Commands)
	require.Equal(t, map[string]int{"ClientUserEdit": 4, "RegionRead": 1}, s.CommandsOf)
	require.Equal(t, map[string]int{contract.CodeSuccess: 3, contract.CodeInvalidFields: 1, "OBJECT_NOT_FOUND": 1}, s.Codes)
	require.Equal(t, 1, s.Refused)
	require.Equal(t, 4, s.Naive, "one call per command that passed the checks, collapsed ones and the refused row included")
	require.Equal(t, map[string]int{"ClientUserEdit": 3, "RegionRead": 1}, s.NaiveOf)
	require.Equal(t, 1, s.Collapsed)
	require.Equal(t, 1, s.CollapsedObjects)
	require.Equal(t, 2, s.Calls, "operations without a call are left out, and so are those of no command")
	require.Equal(t, map[string]int{"ClientUserRead": 3}, s.OtherCalls, "the feeds' polls")
	require.Equal(t, map[string]int{"OBJECT_NOT_FOUND": 1}, s.APIErrors)

	var b strings.Builder
	require.NoError(t, s.Write(&b))
	out := b.String()
	for _, want := range []string{
		"Commands sent   5: 4 ClientUserEdit, 1 RegionRead; each got exactly one result",
		"3 SUCCESS (1 of them edits of 1 user folded into a later edit",
		"1 INVALID_FIELDS: refused by the worker's checks",
		"1 OBJECT_NOT_FOUND: refused by the API for its own row",
		"API calls made  2: ClientUserEdit 1 (packets of 2 rows in all), RegionRead 1",
		"Feed calls      3: ClientUserRead 3 (the change feeds' polls, not commands; not counted above)",
		"Naive way       4 calls",
		"Time            2.1s",
		"Quota left      ClientUserEdit 219 of 225, RegionRead 0 of 225 in this window (2026-12-01 14:00:00 – 15:00:00 MSK)",
	} {
		require.Contains(t, out, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, "Batching saved 2 of 4 calls (50%): 2 calls instead of 4, 2× fewer.", lines[len(lines)-1],
		"the last line says what batching saved (no hours: 3 edits are a sliver of the hour's 225 calls)")
}

func TestSummarizeRefusesAnIncompleteRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		alter func(in *Inputs)
		fails string
	}{
		{"a result missing", func(in *Inputs) { in.Results = in.Results[1:] }, "4 results for 5 commands; none for a"},
		{"two results for one command", func(in *Inputs) { in.Results = append(in.Results, in.Results[0]) }, `two results for "a"`},
		{"a result for a command not sent", func(in *Inputs) { in.Results[0].ID = "z" }, `a result for "z"`},
		{"an id sent twice", func(in *Inputs) { in.Commands[1].ID = "a" }, `the id "a" twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := smallRun()
			c.alter(&in)
			_, err := Summarize(in)
			require.ErrorContains(t, err, c.fails)
		})
	}
}

func TestReadersNameTheBadLine(t *testing.T) {
	t.Parallel()
	_, err := ReadCommands(strings.NewReader("# a comment\n\n{\"op\":\"RegionRead\",\"id\":\"x\",\"fields\":{}}\nnot json\n"))
	require.ErrorContains(t, err, "line 4")
	_, err = ReadResults(strings.NewReader("{\"id\":\"x\",\"code\":\"SUCCESS\"}\n{\n"))
	require.ErrorContains(t, err, "line 2")
	_, err = ReadStats(strings.NewReader("[]"))
	require.ErrorContains(t, err, "stats")
}
