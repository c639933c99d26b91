package contract_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

func TestSniff(t *testing.T) {
	require.Equal(t, contract.JSON, contract.Sniff("application/json; charset=utf-8", []byte{0x81}))
	require.Equal(t, contract.JSON, contract.Sniff("", []byte("  \n{\"id\":1}")))
	require.Equal(t, contract.MsgPack, contract.Sniff("", []byte{0x82}))
	require.Equal(t, contract.MsgPack, contract.Sniff("", nil))
}

func TestDecodeCommand(t *testing.T) {
	mp, err := msgpack.Marshal(map[string]any{"id": "m-1", "fields": map[string]any{"n": int8(3), "at": time.Unix(0, 0).UTC()}})
	require.NoError(t, err)
	cases := []struct {
		name    string
		format  contract.Format
		payload []byte
		wantID  string
		wantErr string
	}{
		{"json", contract.JSON, []byte(`{"id":"c-1","fields":{"Name":"Анна","N":12345678901234567890}}`), "c-1", ""},
		{"json without fields", contract.JSON, []byte(`{"id":"c-2"}`), "c-2", ""},
		{"msgpack", contract.MsgPack, mp, "m-1", ""},
		{"no id", contract.JSON, []byte(`{"fields":{}}`), "", `no "id"`},
		{"empty id", contract.JSON, []byte(`{"id":""}`), "", "empty"},
		{"numeric id", contract.JSON, []byte(`{"id":5}`), "", "want a string"},
		{"long id", contract.JSON, []byte(`{"id":"` + string(make([]byte, 300)) + `"}`), "", ""},
		{"trailing data", contract.JSON, []byte(`{"id":"a"} {}`), "", "after the JSON object"},
		{"not json", contract.JSON, []byte(`{"id":`), "", "not a JSON command"},
		{"fields not an object", contract.JSON, []byte(`{"id":"a","fields":[1]}`), "", `"fields" is an array, want an object`},
		{"not msgpack", contract.MsgPack, []byte{0xc1}, "", "not a msgpack command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := contract.DecodeCommand(tc.format, tc.payload)
			if tc.name == "long id" {
				require.Error(t, err)
				return
			}
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantID, c.ID)
			require.NotNil(t, c.Fields)
		})
	}
	c, err := contract.DecodeCommand(contract.JSON, []byte(`{"id":"x","fields":{"N":12345678901234567890}}`))
	require.NoError(t, err)
	require.Equal(t, json.Number("12345678901234567890"), c.Fields["N"], "numbers stay exact")
}

func TestResultRoundTrip(t *testing.T) {
	r := contract.Result{ID: "c-1", Op: "ClientUserEdit", Code: "SUCCESS", Data: map[string]any{"ID": "x"},
		Batch: "b", Row: 2, Rows: 3, Attempts: 1, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, f := range []contract.Format{contract.JSON, contract.MsgPack} {
		b, err := contract.EncodeResult(f, r)
		require.NoError(t, err)
		require.Equal(t, f, contract.Sniff("", b))
		got, err := contract.DecodeResult(b)
		require.NoError(t, err)
		require.Equal(t, r.ID, got.ID)
		require.Equal(t, r.Row, got.Row)
		require.True(t, r.At.Equal(got.At))
		require.Equal(t, "x", got.Data.(map[string]any)["ID"])
	}
}

func TestOutcomeKeys(t *testing.T) {
	k := contract.OutcomeKey("ClientUserEdit", "id with spaces/and*wild>cards")
	require.Regexp(t, `^[-/_=.a-zA-Z0-9]+$`, k, "a valid key-value key whatever the id")
	require.NotEqual(t, k, contract.OutcomeKey("ClientUserAdd", "id with spaces/and*wild>cards"))
	_, err := contract.DecodeOutcome([]byte{0xc1})
	require.Error(t, err)
	b, _ := contract.EncodeOutcome(contract.Outcome{State: contract.StateFinal})
	_, err = contract.DecodeOutcome(b)
	require.ErrorContains(t, err, "without a result")
	b, _ = contract.EncodeOutcome(contract.Outcome{State: contract.StateSent, Batch: "b1"})
	o, err := contract.DecodeOutcome(b)
	require.NoError(t, err)
	require.Equal(t, "b1", o.Batch)
}

func TestResultsAreCheckedAndValidUTF8(t *testing.T) {
	// Not parallel: it measures allocation.
	r := contract.Result{ID: "c-1", Op: "Bad\xffOp", Code: contract.CodeUnknownOperation, Error: "no operation Bad\xffOp"}
	for _, f := range []contract.Format{contract.JSON, contract.MsgPack} {
		b, err := contract.EncodeResult(f, r)
		require.NoError(t, err)
		got, err := contract.DecodeResult(b)
		require.NoError(t, err, "a result with bad bytes in its operation still reads back")
		require.Equal(t, "Bad\uFFFDOp", got.Op)
	}
	bomb := cat(header(0xdf, 4, 1<<32-1), pad(16))
	var errResult, errOutcome error
	requireDecodeBounded(t, len(bomb), func() {
		_, errResult = contract.DecodeResult(bomb)
		_, errOutcome = contract.DecodeOutcome(bomb)
	})
	require.ErrorContains(t, errResult, "map declares 4294967295 entries")
	require.ErrorContains(t, errOutcome, "map declares 4294967295 entries")
	_, err := contract.DecodeResult([]byte(`{"id":"x","data":` + strings.Repeat("[", 100)))
	require.ErrorContains(t, err, "nested deeper than 64")
	rows := make([]any, 1000) // a read: one map per row, no container limit
	for i := range rows {
		rows[i] = map[string]any{"ID": i}
	}
	for _, f := range []contract.Format{contract.JSON, contract.MsgPack} {
		b, err := contract.EncodeResult(f, contract.Result{ID: "c-1", Data: rows})
		require.NoError(t, err)
		got, err := contract.DecodeResult(b)
		require.NoError(t, err)
		require.Len(t, got.Data, 1000)
	}
}
