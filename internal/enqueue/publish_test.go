package enqueue_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

func TestPublishArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		format      string
		contentType string
		wantFormat  contract.Format
	}{
		{name: "json by default", contentType: contract.ContentTypeJSON, wantFormat: contract.JSON},
		{name: "json", format: "json", contentType: contract.ContentTypeJSON, wantFormat: contract.JSON},
		{name: "msgpack", format: "msgpack", contentType: contract.ContentTypeMsgPack, wantFormat: contract.MsgPack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			cl := b.client(t, enqueue.Config{Format: tc.format})
			src := args(t, false,
				"ClientUserEdit", `{"id":"c-1","fields":{"Name":"Анна","Age":42,"Rate":0.1}}`,
				"ClientUserAdd", `{"fields":{"Name":"Борис"}}`)

			sum, err := cl.Publish(testContext(t), src)
			require.NoError(t, err)
			require.Equal(t, 2, sum.Commands)
			require.Equal(t, 2, sum.Published)
			require.Equal(t, 1, sum.Generated)
			require.True(t, sum.OK())
			require.Empty(t, b.stdout.String(), "no results without --wait")

			msgs := b.stored(t)
			require.Len(t, msgs, 2)
			wantSubjects := []string{"connect.cmd.ClientUserEdit", "connect.cmd.ClientUserAdd"}
			for i, m := range msgs {
				require.Equal(t, wantSubjects[i], m.Subject)
				require.Equal(t, tc.contentType, m.Header.Get(contract.HeaderContentType))
				require.Empty(t, m.Header.Get(contract.HeaderReplyTo))
				require.Equal(t, tc.wantFormat, contract.Sniff(m.Header.Get(contract.HeaderContentType), m.Data))
			}

			first, err := contract.DecodeCommand(tc.wantFormat, msgs[0].Data)
			require.NoError(t, err)
			require.Equal(t, "c-1", first.ID)
			require.Equal(t, "c-1", msgs[0].Header.Get(contract.HeaderMsgID))
			require.Equal(t, "Анна", first.Fields["Name"])
			require.Equal(t, "42", fmt.Sprint(first.Fields["Age"]))
			require.Equal(t, "0.1", fmt.Sprint(first.Fields["Rate"]))

			second, err := contract.DecodeCommand(tc.wantFormat, msgs[1].Data)
			require.NoError(t, err)
			require.Regexp(t, `^enq-\d+-1$`, second.ID)
			require.Equal(t, second.ID, msgs[1].Header.Get(contract.HeaderMsgID))
			require.Contains(t, b.stderr.String(), `argument pair 2 ClientUserAdd: no "id", generated `+second.ID)
		})
	}
}

// cmdsFile has good lines, blank lines, comments and four malformed lines
// (5 to 8).
const cmdsFile = `# commands for the test
{"op":"ClientUserEdit","id":"f-1","fields":{"Name":"a"}}

{"op":"ClientUserEdit","id":"f-2","fields":{"Name":"b","Big":12345678901234567890}}
{"op":"ClientUserEdit","id":"f-3","fields":
{"op":"NoSuchOp","id":"f-4"}
{"op":"ClientUserEdit","id":7}
{"op":"ClientUserEdit","id":"f-5","fields":{},"extra":1}
   {"op":"ClientUserEdit","id":"f-6"}
`

func TestPublishFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		format     string
		stdin      bool
		wantFormat contract.Format
	}{
		{name: "json file", format: "json", wantFormat: contract.JSON},
		{name: "msgpack file", format: "msgpack", wantFormat: contract.MsgPack},
		{name: "json stdin", format: "json", stdin: true, wantFormat: contract.JSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			path := filepath.Join(t.TempDir(), "cmds.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(cmdsFile), 0o600))
			name := path
			if tc.stdin {
				path, name = "-", "stdin"
			}
			src, closer, err := enqueue.OpenFile(path, strings.NewReader(cmdsFile), "", false)
			require.NoError(t, err)
			t.Cleanup(func() { _ = closer.Close() })
			require.Equal(t, 7, src.Total)

			progress := &proctest.Buffer{}
			cl := b.client(t, enqueue.Config{Format: tc.format, Progress: progress})
			sum, err := cl.Publish(testContext(t), src)
			require.ErrorIs(t, err, enqueue.ErrIncomplete)
			require.Contains(t, err.Error(), "4 malformed")
			require.Equal(t, 4, sum.Malformed)
			require.Equal(t, 3, sum.Published)
			require.False(t, sum.OK())

			stderr := b.stderr.String()
			for _, want := range []string{
				name + ":5: not a JSON object",
				name + `:6: unknown operation "NoSuchOp"`,
				name + `:7: "id" is not a string`,
				name + `:8: unknown key "extra"`,
			} {
				require.Contains(t, stderr, want)
			}
			require.NotContains(t, stderr, ":2:")
			require.Empty(t, progress.String(), "not a terminal: no bars drawn")

			msgs := b.stored(t)
			require.Len(t, msgs, 3)
			var ids []string
			for _, m := range msgs {
				require.Equal(t, "connect.cmd.ClientUserEdit", m.Subject)
				c, err := contract.DecodeCommand(tc.wantFormat, m.Data)
				require.NoError(t, err)
				require.Equal(t, c.ID, m.Header.Get(contract.HeaderMsgID))
				ids = append(ids, c.ID)
				if c.ID == "f-2" {
					// Exact in both formats: json.Number in JSON, uint64 in msgpack.
					require.Equal(t, "12345678901234567890", fmt.Sprint(c.Fields["Big"]))
				}
			}
			require.Equal(t, []string{"f-1", "f-2", "f-6"}, ids)
		})
	}
}

func TestPublishMsgpackInexactNumber(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cl := b.client(t, enqueue.Config{Format: "msgpack"})
	src := args(t, false, "ClientUserEdit", `{"id":"n-1","fields":{"Sum":12345678901234567.89}}`)
	sum, err := cl.Publish(testContext(t), src)
	require.ErrorIs(t, err, enqueue.ErrIncomplete)
	require.Equal(t, 1, sum.Malformed)
	require.Contains(t, b.stderr.String(), "argument pair 1: Sum: number 12345678901234567.89 cannot be sent exactly in msgpack")
	require.Empty(t, b.stored(t))
}

func TestPublishNoStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cl := b.client(t, enqueue.Config{SubjectPrefix: "elsewhere."})
	sum, err := cl.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"x-1"}`))
	require.ErrorIs(t, err, enqueue.ErrIncomplete)
	require.Equal(t, 1, sum.Failed)
	require.Contains(t, b.stderr.String(), "argument pair 1 ClientUserEdit: publish x-1:")
}

func TestWait(t *testing.T) {
	t.Parallel()
	invalid := func(op string, c contract.Command) *contract.Result {
		if c.ID == "bad" {
			return &contract.Result{Code: contract.CodeInvalidFields, Error: "Name: required"}
		}
		return success(op, c)
	}
	lose := func(op string, c contract.Command) *contract.Result {
		if c.ID == "lost" {
			return nil
		}
		return success(op, c)
	}
	tests := []struct {
		name         string
		format       string
		allowUnknown bool
		pairs        []string
		decide       decision
		timeout      time.Duration
		wantCodes    map[string]int
		wantMissing  []string
		wantErr      bool
		wantStderr   []string
	}{
		{
			name:   "all succeed",
			pairs:  []string{"ClientUserEdit", `{"id":"w-1"}`, "ClientUserEdit", `{"id":"w-2"}`, "ClientUserAdd", `{"fields":{"Name":"x"}}`},
			decide: success, wantCodes: map[string]int{"SUCCESS": 3},
			wantStderr: []string{"3 results: SUCCESS 3", `no "id", generated enq-`},
		},
		{
			name: "all succeed in msgpack", format: "msgpack",
			pairs:  []string{"ClientUserEdit", `{"id":"w-1"}`, "ClientUserEdit", `{"id":"w-2"}`},
			decide: success, wantCodes: map[string]int{"SUCCESS": 2},
		},
		{
			name:   "a result that is not SUCCESS",
			pairs:  []string{"ClientUserEdit", `{"id":"ok"}`, "ClientUserEdit", `{"id":"bad"}`},
			decide: invalid, wantCodes: map[string]int{"SUCCESS": 1, "INVALID_FIELDS": 1}, wantErr: true,
			wantStderr: []string{"2 results: SUCCESS 1, INVALID_FIELDS 1"},
		},
		{
			name: "unknown operation sent with allowUnknown", allowUnknown: true,
			pairs:  []string{"NoSuchOp", `{"id":"u-1"}`},
			decide: success, wantCodes: map[string]int{"UNKNOWN_OPERATION": 1}, wantErr: true,
		},
		{
			name:   "a result that never comes",
			pairs:  []string{"ClientUserEdit", `{"id":"here"}`, "ClientUserEdit", `{"id":"lost"}`},
			decide: lose, timeout: 300 * time.Millisecond,
			wantCodes: map[string]int{"SUCCESS": 1}, wantMissing: []string{"lost"}, wantErr: true,
			wantStderr: []string{"1 missing, no result within 300ms", "  lost (ClientUserEdit)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.fakeWorker(t, tc.decide)
			cl := b.client(t, enqueue.Config{Wait: true, Format: tc.format, Timeout: tc.timeout})
			sum, err := cl.Publish(testContext(t), args(t, tc.allowUnknown, tc.pairs...))
			if tc.wantErr {
				require.ErrorIs(t, err, enqueue.ErrIncomplete)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantCodes, sum.ByCode)
			require.Equal(t, tc.wantMissing, sum.Missing)

			// One line per id although the worker replied twice.
			var got []contract.Result
			for _, l := range b.stdout.Lines() {
				var r contract.Result
				require.NoError(t, json.Unmarshal([]byte(l), &r), l)
				got = append(got, r)
			}
			require.Len(t, got, sum.Results)
			codes := map[string]int{}
			ids := map[string]bool{}
			for _, r := range got {
				require.False(t, ids[r.ID], "id %s printed twice", r.ID)
				ids[r.ID] = true
				codes[r.Code]++
			}
			require.Equal(t, tc.wantCodes, codes)
			for _, want := range tc.wantStderr {
				require.Contains(t, b.stderr.String(), want)
			}
		})
	}
}

func TestWaitSetsReplyTo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cl := b.client(t, enqueue.Config{Wait: true, Timeout: 100 * time.Millisecond})
	sum, err := cl.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"r-1"}`))
	require.ErrorIs(t, err, enqueue.ErrIncomplete)
	require.Equal(t, []string{"r-1"}, sum.Missing)
	msgs := b.stored(t)
	require.Len(t, msgs, 1)
	require.True(t, strings.HasPrefix(msgs[0].Header.Get(contract.HeaderReplyTo), nats.InboxPrefix))
}

func TestWaitDuplicate(t *testing.T) {
	t.Parallel()

	t.Run("outcome already final", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		seen := b.fakeWorker(t, success)
		first := b.client(t, enqueue.Config{Wait: true, ReplyTimeout: time.Second})
		_, err := first.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"d-1"}`))
		require.NoError(t, err)
		b.stdout = &proctest.Buffer{}

		again := b.client(t, enqueue.Config{Wait: true, ReplyTimeout: time.Second})
		sum, err := again.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"d-1"}`))
		require.NoError(t, err)
		require.Equal(t, 1, sum.Duplicates)
		require.Equal(t, 0, sum.Published)
		require.Equal(t, map[string]int{"SUCCESS": 1}, sum.ByCode)
		lines := b.stdout.Lines()
		require.Len(t, lines, 1)
		require.Contains(t, lines[0], `"id":"d-1"`)
		require.Len(t, seen, 1, "the worker saw the command once")
	})

	t.Run("outcome final later", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// An earlier producer published d-2, and the worker has sent it to
		// the API but not yet decided.
		m := nats.NewMsg("connect.cmd.ClientUserEdit")
		m.Data = []byte(`{"id":"d-2","fields":{}}`)
		m.Header.Set(contract.HeaderMsgID, "d-2")
		_, err := b.js.PublishMsg(testContext(t), m)
		require.NoError(t, err)
		b.putOutcome(t, "ClientUserEdit", "d-2", contract.Outcome{State: contract.StateSent, Batch: "b-7"})

		cl := b.client(t, enqueue.Config{Wait: true, ReplyTimeout: time.Second})
		type outcome struct {
			sum enqueue.Summary
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			sum, err := cl.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"d-2"}`))
			done <- outcome{sum, err}
		}()
		res := contract.Result{ID: "d-2", Op: "ClientUserEdit", Code: contract.CodeSuccess, Batch: "b-7", Row: 1, Rows: 1, Attempts: 1}
		b.putOutcome(t, "ClientUserEdit", "d-2", contract.Outcome{State: contract.StateFinal, Batch: "b-7", Result: &res})

		select {
		case got := <-done:
			require.NoError(t, got.err)
			require.Equal(t, 1, got.sum.Duplicates)
			require.Equal(t, map[string]int{"SUCCESS": 1}, got.sum.ByCode)
		case <-time.After(20 * time.Second):
			t.Fatal("Publish did not return")
		}
		lines := b.stdout.Lines()
		require.Len(t, lines, 1)
		require.Contains(t, lines[0], `"batch":"b-7"`)
	})
}

func TestWaitDuplicateNeverFinal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := nats.NewMsg("connect.cmd.ClientUserEdit")
	m.Data = []byte(`{"id":"d-3","fields":{}}`)
	m.Header.Set(contract.HeaderMsgID, "d-3")
	_, err := b.js.PublishMsg(testContext(t), m)
	require.NoError(t, err)

	cl := b.client(t, enqueue.Config{Wait: true, Timeout: 200 * time.Millisecond})
	sum, err := cl.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"d-3"}`))
	require.ErrorIs(t, err, enqueue.ErrIncomplete)
	require.Equal(t, 1, sum.Duplicates)
	require.Equal(t, []string{"d-3"}, sum.Missing)
	require.Contains(t, b.stderr.String(), "d-3 (ClientUserEdit): duplicate, no final outcome in bucket CONNECT_OUTCOMES")
}

func TestWaitRepeatedID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seen := b.fakeWorker(t, success)
	cl := b.client(t, enqueue.Config{Wait: true})
	in := "{\"id\":\"rep-1\"}\n{\"id\":\"rep-1\",\"fields\":{\"Name\":\"x\"}}\n"
	sum, err := cl.Publish(testContext(t), enqueue.Lines("in", strings.NewReader(in), "ClientUserEdit", false))
	require.NoError(t, err)
	require.Equal(t, 1, sum.Commands)
	require.Equal(t, 1, sum.Published)
	require.Equal(t, 1, sum.Duplicates)
	require.Len(t, b.stdout.Lines(), 1)
	require.Contains(t, b.stderr.String(), "in:2 ClientUserEdit: id rep-1 repeats an earlier command")
	require.Len(t, seen, 1)
}

func TestWaitManyCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fakeWorker(t, success)
	var in bytes.Buffer
	var want []string
	for i := range 500 {
		id := fmt.Sprintf("m-%03d", i)
		want = append(want, id)
		fmt.Fprintf(&in, `{"id":%q,"fields":{"N":%d}}`+"\n", id, i)
	}
	// A small in-flight bound makes the publisher wait for acks.
	cl := b.client(t, enqueue.Config{Wait: true, MaxPending: 16})
	sum, err := cl.Publish(testContext(t), enqueue.Lines("stdin", &in, "ClientUserEdit", false))
	require.NoError(t, err)
	require.Equal(t, 500, sum.Results)
	var got []string
	for _, l := range b.stdout.Lines() {
		var r contract.Result
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		got = append(got, r.ID)
	}
	slices.Sort(got)
	require.Equal(t, want, got)
}

func TestGeneratedIDsAreUnique(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cl := b.client(t, enqueue.Config{Now: func() time.Time { return time.Unix(0, 1700000000000000000) }})
	src := args(t, false, "ClientUserEdit", `{}`, "ClientUserEdit", `{}`, "ClientUserEdit", `{}`)
	sum, err := cl.Publish(testContext(t), src)
	require.NoError(t, err)
	require.Equal(t, 3, sum.Published)
	re := regexp.MustCompile(`generated (enq-1700000000000000000-\d)`)
	var ids []string
	for _, m := range re.FindAllStringSubmatch(b.stderr.String(), -1) {
		ids = append(ids, m[1])
	}
	require.Equal(t, []string{"enq-1700000000000000000-1", "enq-1700000000000000000-2", "enq-1700000000000000000-3"}, ids)
}
