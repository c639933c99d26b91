package worker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/batcher"
	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// rowsAnswer is a packet's answer with these row codes.
func rowsAnswer(codes ...string) *soap.Response {
	t := &soap.Table{Columns: []soap.Column{{Name: "ResultCode"}, {Name: "ResultData"}}}
	for _, c := range codes {
		t.Rows = append(t.Rows, []soap.Value{soap.String(c), soap.String("why " + c)})
	}
	return &soap.Response{Op: "ClientUserEdit", Code: soap.CodeSuccess, Data: soap.TableValue(t)}
}

// packet makes a packet of n commands, each failed as often as given.
func packet(n int, failures ...int) batcher.Packet[*entry] {
	var p batcher.Packet[*entry]
	for i := range n {
		e := &entry{cmd: contract.Command{ID: string(rune('a' + i))}}
		if i < len(failures) {
			e.failures = failures[i]
		}
		p.Items = append(p.Items, batcher.Item[*entry]{Key: e.cmd.ID, Value: e})
	}
	return p
}

func TestDecide(t *testing.T) {
	edits := decideInput{kind: catalog.BatchWrite, repeatable: true, maxAttempts: 3}
	adds := decideInput{kind: catalog.BatchWrite, repeatable: false, maxAttempts: 3}
	reads := decideInput{kind: catalog.Read, repeatable: true, maxAttempts: 3}
	codes := func(pl plan) []string {
		var out []string
		for _, e := range pl.ends {
			out = append(out, e.code)
		}
		return out
	}
	sentCut := &soap.TransportError{Op: "ClientUserAdd", Sent: true, Err: errors.New("EOF")}
	notSent := &soap.TransportError{Op: "ClientUserEdit", Sent: false, Err: errors.New("refused")}
	collapsedRow := packet(1)
	collapsedRow.Items[0].Collapsed = []batcher.Item[*entry]{{Value: &entry{cmd: contract.Command{ID: "earlier"}}}}

	for _, tt := range []struct {
		name  string
		in    decideInput
		out   callOutcome
		check func(t *testing.T, pl plan)
	}{
		{"a read answered", reads, callOutcome{p: packet(1), resp: &soap.Response{Code: soap.CodeSuccess, Data: soap.String("x")}}, func(t *testing.T, pl plan) {
			require.Equal(t, "success", pl.outcome)
			require.Equal(t, []string{soap.CodeSuccess}, codes(pl))
			require.True(t, pl.resetBackoff)
			require.True(t, pl.authOK)
		}},
		{"every row answered", edits, callOutcome{p: packet(3), resp: rowsAnswer("SUCCESS", "NOT_FOUND", "SUCCESS")}, func(t *testing.T, pl plan) {
			require.Equal(t, "success", pl.outcome)
			require.Equal(t, []string{"SUCCESS", "NOT_FOUND", "SUCCESS"}, codes(pl))
			require.Equal(t, "why NOT_FOUND", pl.ends[1].reason)
			require.Empty(t, pl.ends[0].reason)
			require.Equal(t, 1, pl.ends[1].row)
			require.Equal(t, 3, pl.ends[1].rows)
		}},
		{"a short table: the rest not processed", edits, callOutcome{p: packet(3), resp: rowsAnswer("SUCCESS")}, func(t *testing.T, pl plan) {
			require.Equal(t, "partial", pl.outcome)
			require.Len(t, pl.again, 2)
			require.True(t, pl.exhausted)
			require.Empty(t, pl.failed, "not a failure")
		}},
		{"a row OUT_OF_LIMIT", edits, callOutcome{p: packet(2), resp: rowsAnswer("SUCCESS", soap.CodeOutOfLimit)}, func(t *testing.T, pl plan) {
			require.Equal(t, "partial", pl.outcome)
			require.Len(t, pl.again, 1)
			require.True(t, pl.exhausted)
		}},
		{"more rows than sent: an edit is retried", edits, callOutcome{p: packet(1), resp: rowsAnswer("SUCCESS", "SUCCESS")}, func(t *testing.T, pl plan) {
			require.Equal(t, "transport_error", pl.outcome)
			require.Len(t, pl.retry, 1)
			require.True(t, pl.backoff)
			var de *soap.DecodeError
			require.ErrorAs(t, pl.err, &de)
		}},
		{"more rows than sent: an add is unknown", adds, callOutcome{p: packet(1), resp: rowsAnswer("SUCCESS", "SUCCESS")}, func(t *testing.T, pl plan) {
			require.Equal(t, []string{contract.CodeUnknownOutcome}, codes(pl))
			require.NotEmpty(t, pl.ends[0].dlq)
		}},
		{"the whole call OUT_OF_LIMIT", edits, callOutcome{p: packet(2), err: &soap.ResultError{Code: soap.CodeOutOfLimit}}, func(t *testing.T, pl plan) {
			require.Equal(t, "out_of_limit", pl.outcome)
			require.Len(t, pl.again, 2)
			require.True(t, pl.exhausted)
			require.False(t, pl.backoff)
		}},
		{"the whole call refused with a code", edits, callOutcome{p: packet(2), err: &soap.ResultError{Code: "WRONG", Reason: "no"}}, func(t *testing.T, pl plan) {
			require.Equal(t, "api_error", pl.outcome)
			require.Equal(t, []string{"WRONG", "WRONG"}, codes(pl))
		}},
		{"credentials refused", edits, callOutcome{p: packet(2), err: &soap.AuthError{StatusCode: 401}}, func(t *testing.T, pl plan) {
			require.Equal(t, "unauthorized", pl.outcome)
			require.True(t, pl.authBlock)
			require.Len(t, pl.again, 2)
			require.Empty(t, pl.failed)
		}},
		{"a fault on a packet: split", edits, callOutcome{p: packet(4), err: &soap.FaultError{Code: "soap:Server"}}, func(t *testing.T, pl plan) {
			require.Equal(t, "fault", pl.outcome)
			require.True(t, pl.split)
			require.Len(t, pl.failed, 4)
			require.Empty(t, pl.ends)
		}},
		{"a fault on one command: backoff", edits, callOutcome{p: packet(1), err: &soap.FaultError{Code: "soap:Server"}}, func(t *testing.T, pl plan) {
			require.Len(t, pl.retry, 1)
			require.True(t, pl.backoff)
		}},
		{"a fault on one command, the last attempt", edits, callOutcome{p: packet(1, 2), err: &soap.FaultError{Code: "soap:Server"}}, func(t *testing.T, pl plan) {
			require.Equal(t, []string{contract.CodeSOAPFault}, codes(pl))
		}},
		{"not sent: retried", adds, callOutcome{p: packet(2), err: notSent}, func(t *testing.T, pl plan) {
			require.Equal(t, "transport_error", pl.outcome)
			require.Len(t, pl.retry, 2)
			require.True(t, pl.backoff)
		}},
		{"retries run out", edits, callOutcome{p: packet(2, 2, 0), err: notSent}, func(t *testing.T, pl plan) {
			require.Equal(t, []string{contract.CodeTransportError}, codes(pl))
			require.Len(t, pl.retry, 1)
		}},
		{"an add cut after sending", adds, callOutcome{p: packet(2), err: sentCut}, func(t *testing.T, pl plan) {
			require.Equal(t, "unknown_outcome", pl.outcome)
			require.Equal(t, []string{contract.CodeUnknownOutcome, contract.CodeUnknownOutcome}, codes(pl))
			require.False(t, pl.backoff)
		}},
		{"an add cut after sending, retry allowed", decideInput{kind: catalog.BatchWrite, retryUnknown: true, maxAttempts: 3}, callOutcome{p: packet(1), err: sentCut}, func(t *testing.T, pl plan) {
			require.Len(t, pl.retry, 1)
		}},
		{"an HTTP 500 without a fault: unknown for an add", adds, callOutcome{p: packet(1), err: &soap.HTTPError{StatusCode: 500}}, func(t *testing.T, pl plan) {
			require.Equal(t, []string{contract.CodeUnknownOutcome}, codes(pl))
		}},
		{"a collapsed row that succeeds", edits, callOutcome{p: collapsedRow, resp: rowsAnswer("SUCCESS")}, func(t *testing.T, pl plan) {
			require.Equal(t, []string{"SUCCESS"}, codes(pl))
			require.Empty(t, pl.expand)
		}},
		{"a collapsed row that fails: expanded", edits, callOutcome{p: collapsedRow, resp: rowsAnswer("NOT_FOUND")}, func(t *testing.T, pl plan) {
			require.Empty(t, pl.ends)
			require.Len(t, pl.expand, 1)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, decide(tt.in, tt.out))
		})
	}
}
