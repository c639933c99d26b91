package enqueue_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/enqueue"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/proctest"
)

// storeResult keeps res as the worker does: a final outcome in the bucket
// and a message in the result stream, in format f.
func (b *bundle) storeResult(t *testing.T, f contract.Format, res contract.Result) {
	t.Helper()
	res.At = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b.putOutcome(t, res.Op, res.ID, contract.Outcome{State: contract.StateFinal, Result: &res})
	payload, err := contract.EncodeResult(f, res)
	require.NoError(t, err)
	m := nats.NewMsg(contract.ResultPrefix + res.Op)
	m.Data = payload
	m.Header.Set(contract.HeaderMsgID, contract.ResultMsgID(res.Op, res.ID))
	_, err = b.js.PublishMsg(testContext(t), m)
	require.NoError(t, err)
}

func TestResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Fillers around the results looked up, so the scan has to go past
	// them; ids with dots and spaces check the key and header encoding.
	for i := range 40 {
		b.storeResult(t, contract.MsgPack, contract.Result{ID: fmt.Sprintf("fill-%d", i), Op: "ClientUserAdd", Code: contract.CodeSuccess})
	}
	b.storeResult(t, contract.JSON, contract.Result{ID: "r-1", Op: "ClientUserEdit", Code: contract.CodeSuccess, Data: map[string]any{"n": 1}})
	b.storeResult(t, contract.MsgPack, contract.Result{ID: "r.2 x", Op: "ClientUserEdit", Code: contract.CodeInvalidFields, Error: "Name: required"})
	for i := range 10 {
		b.storeResult(t, contract.JSON, contract.Result{ID: fmt.Sprintf("tail-%d", i), Op: "ClientUserEdit", Code: contract.CodeSuccess})
	}
	b.putOutcome(t, "ClientUserEdit", "r-3", contract.Outcome{State: contract.StateSent, Batch: "b-9"})

	tests := []struct {
		name        string
		op          string
		ids         []string
		wantIDs     []string
		wantCodes   map[string]int
		wantMissing []string
		wantErr     bool
		wantStderr  string
	}{
		{name: "op reads the bucket", op: "ClientUserEdit", ids: []string{"r-1"},
			wantIDs: []string{"r-1"}, wantCodes: map[string]int{"SUCCESS": 1}},
		{name: "op keeps the order of ids", op: "ClientUserEdit", ids: []string{"r.2 x", "r-1", "r-1"},
			wantIDs: []string{"r.2 x", "r-1"}, wantCodes: map[string]int{"SUCCESS": 1, "INVALID_FIELDS": 1}, wantErr: true},
		{name: "op with an id not in the bucket", op: "ClientUserEdit", ids: []string{"r-1", "nope"},
			wantIDs: []string{"r-1"}, wantCodes: map[string]int{"SUCCESS": 1}, wantMissing: []string{"nope"}, wantErr: true,
			wantStderr: "nope (ClientUserEdit): no outcome in bucket CONNECT_OUTCOMES"},
		{name: "op of another operation", op: "ClientUserAdd", ids: []string{"r-1"},
			wantCodes: map[string]int{}, wantMissing: []string{"r-1"}, wantErr: true},
		{name: "op with an outcome not final yet", op: "ClientUserEdit", ids: []string{"r-3"},
			wantCodes: map[string]int{}, wantMissing: []string{"r-3"}, wantErr: true,
			wantStderr: "r-3 (ClientUserEdit): sent to the API, no final outcome yet"},
		{name: "scan finds both formats", ids: []string{"r.2 x", "r-1"},
			wantIDs: []string{"r.2 x", "r-1"}, wantCodes: map[string]int{"SUCCESS": 1, "INVALID_FIELDS": 1}, wantErr: true},
		{name: "scan to the end", ids: []string{"tail-9", "fill-0"},
			wantIDs: []string{"tail-9", "fill-0"}, wantCodes: map[string]int{"SUCCESS": 2}},
		{name: "scan with an id not in the stream", ids: []string{"r-1", "nope"},
			wantIDs: []string{"r-1"}, wantCodes: map[string]int{"SUCCESS": 1}, wantMissing: []string{"nope"}, wantErr: true,
			wantStderr: "1 not found: nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut := &proctest.Buffer{}, &proctest.Buffer{}
			nc, err := natsconn.Connect(natsconn.ConnFlags{Server: b.url})
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			cl, err := enqueue.New(nc, enqueue.Config{Stdout: out, Stderr: errOut})
			require.NoError(t, err)

			sum, err := cl.Results(testContext(t), tc.op, tc.ids)
			if tc.wantErr {
				require.ErrorIs(t, err, enqueue.ErrIncomplete)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantCodes, sum.ByCode)
			require.Equal(t, tc.wantMissing, sum.Missing)
			var ids []string
			for _, l := range out.Lines() {
				var r contract.Result
				require.NoError(t, json.Unmarshal([]byte(l), &r))
				ids = append(ids, r.ID)
			}
			require.Equal(t, tc.wantIDs, ids)
			require.Contains(t, errOut.String(), tc.wantStderr)
		})
	}
}

func TestResultsEmptyStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cl := b.client(t, enqueue.Config{})
	sum, err := cl.Results(testContext(t), "", []string{"x"})
	require.ErrorIs(t, err, enqueue.ErrIncomplete)
	require.Equal(t, []string{"x"}, sum.Missing)
}

func TestResultsOfPublishedCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fakeWorker(t, success)
	cl := b.client(t, enqueue.Config{Wait: true})
	_, err := cl.Publish(testContext(t), args(t, false, "ClientUserEdit", `{"id":"p-1"}`))
	require.NoError(t, err)

	for _, op := range []string{"ClientUserEdit", ""} {
		out := &proctest.Buffer{}
		lookup, err := enqueue.New(b.nc, enqueue.Config{Stdout: out})
		require.NoError(t, err)
		_, err = lookup.Results(testContext(t), op, []string{"p-1"})
		require.NoError(t, err, "op %q", op)
		require.Len(t, out.Lines(), 1)
		require.Contains(t, out.String(), `"id":"p-1","op":"ClientUserEdit","code":"SUCCESS"`)
	}
}
