package enqueue_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/enqueue"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		args         []string
		allowUnknown bool
		want         []enqueue.Command
		wantErr      string
		wantUnknown  bool // the error is ErrUnknownOperation
	}{
		{name: "one command", args: []string{"ClientUserEdit", `{"id":"c-1","fields":{"Name":"Анна","N":1.50}}`},
			want: []enqueue.Command{{Op: "ClientUserEdit", ID: "c-1", Line: 1, Fields: map[string]any{"Name": "Анна", "N": json.Number("1.50")}}}},
		{name: "no id, no fields", args: []string{"ClientUserEdit", `{}`, "ClientUserAdd", ` {"op":"ClientUserAdd"} `},
			want: []enqueue.Command{{Op: "ClientUserEdit", Line: 1, Fields: map[string]any{}}, {Op: "ClientUserAdd", Line: 2, Fields: map[string]any{}}}},
		{name: "unknown operation allowed", args: []string{"NoSuchOp", `{"id":"x"}`}, allowUnknown: true,
			want: []enqueue.Command{{Op: "NoSuchOp", ID: "x", Line: 1, Fields: map[string]any{}}}},
		{name: "nothing", wantErr: "no command"},
		{name: "odd count", args: []string{"ClientUserEdit", `{}`, "ClientUserAdd"}, wantErr: `"ClientUserAdd" has no JSON command after it`},
		{name: "unknown operation", args: []string{"NoSuchOp", `{}`}, wantUnknown: true, wantErr: `enqueue: argument pair 1: unknown operation "NoSuchOp" (not in the catalogue; --allow-unknown sends it anyway)`},
		{name: "wrong case", args: []string{"clientuseredit", `{}`}, wantUnknown: true, wantErr: `did you mean "ClientUserEdit"?`},
		{name: "not a subject token", args: []string{"Client.Edit", `{}`}, allowUnknown: true, wantErr: `operation "Client.Edit" is not a valid subject token`},
		{name: "bad JSON", args: []string{"ClientUserEdit", `{"id":`}, wantErr: "argument pair 1: not a JSON object"},
		{name: "trailing data", args: []string{"ClientUserEdit", `{} {}`}, wantErr: "data after the JSON object"},
		{name: "null", args: []string{"ClientUserEdit", `null`}, wantErr: "not a JSON object: null"},
		{name: "id not a string", args: []string{"ClientUserEdit", `{"id":1}`}, wantErr: `"id" is not a string`},
		{name: "empty id", args: []string{"ClientUserEdit", `{"id":""}`}, wantErr: `"id" is empty`},
		{name: "id with a newline", args: []string{"ClientUserEdit", `{"id":"a\nb"}`}, wantErr: `"id" holds a control character`},
		{name: "id too long", args: []string{"ClientUserEdit", `{"id":"` + strings.Repeat("x", 257) + `"}`}, wantErr: `longer than 256`},
		{name: "fields not an object", args: []string{"ClientUserEdit", `{"fields":[1]}`}, wantErr: `"fields" is not a JSON object`},
		{name: "other op", args: []string{"ClientUserEdit", `{"op":"ClientUserAdd"}`}, wantErr: `"op" is "ClientUserAdd" but the operation given is "ClientUserEdit"`},
		{name: "unknown key", args: []string{"ClientUserEdit", `{"Fields":{}}`}, wantErr: `unknown key "Fields"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := enqueue.ParseArgs(tc.args, tc.allowUnknown)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, tc.wantUnknown, errors.Is(err, enqueue.ErrUnknownOperation))
				var le *enqueue.LineError
				if errors.As(err, &le) {
					require.Positive(t, le.Line)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, len(tc.want), src.Total)
			var got []enqueue.Command
			for c, err := range src.Commands {
				require.NoError(t, err)
				got = append(got, c)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	in := "# header\n\n{\"id\":\"a\"}\n  # indented comment\n{\"op\":\"ClientUserAdd\",\"id\":\"b\"}\n{bad\n{\"op\":\"ClientUserEdit\",\"id\":\"c\"}"
	tests := []struct {
		name      string
		op        string
		wantIDs   []string
		wantLines []int
		wantErrs  []string
	}{
		{name: "without op", wantIDs: []string{"b", "c"}, wantLines: []int{5, 7},
			wantErrs: []string{`in:3: no operation: give "op" or --op`, "in:6: not a JSON object"}},
		{name: "with op", op: "ClientUserEdit", wantIDs: []string{"a", "c"}, wantLines: []int{3, 7},
			wantErrs: []string{`in:5: "op" is "ClientUserAdd" but the operation given is "ClientUserEdit"`, "in:6: not a JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := enqueue.Lines("in", strings.NewReader(in), tc.op, false)
			require.Equal(t, 4, src.Total)
			var ids, errs []string
			var lines []int
			for c, err := range src.Commands {
				if err != nil {
					var le *enqueue.LineError
					require.ErrorAs(t, err, &le)
					errs = append(errs, err.Error())
					continue
				}
				ids = append(ids, c.ID)
				lines = append(lines, c.Line)
			}
			require.Equal(t, tc.wantIDs, ids)
			require.Equal(t, tc.wantLines, lines)
			require.Len(t, errs, len(tc.wantErrs))
			for i, want := range tc.wantErrs {
				require.Contains(t, errs[i], want)
			}
		})
	}
}

func TestLinesFromPipeHasNoTotal(t *testing.T) {
	t.Parallel()
	// A plain io.Reader cannot be counted ahead.
	src := enqueue.Lines("stdin", io.MultiReader(strings.NewReader(`{"id":"a"}`)), "ClientUserEdit", false)
	require.Zero(t, src.Total)
	n := 0
	for _, err := range src.Commands {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 1, n)
}

func TestLinesTooLong(t *testing.T) {
	t.Parallel()
	long := `{"id":"` + strings.Repeat("x", enqueue.MaxLineBytes) + `"}`
	src := enqueue.Lines("big", strings.NewReader(`{"id":"a"}`+"\n"+long+"\n"), "ClientUserEdit", false)
	var errs []error
	n := 0
	for _, err := range src.Commands {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	require.Equal(t, 1, n)
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "read big after line 1: line longer than")
}

func TestCheckOperation(t *testing.T) {
	t.Parallel()
	// Every operation of the catalogue is accepted; keep the check in
	// step with it.
	for _, op := range []string{"ClientUserEdit", "ClientRead"} {
		require.NoError(t, enqueue.CheckOperation(op, false))
	}
	err := enqueue.CheckOperation("Nope", false)
	require.ErrorIs(t, err, enqueue.ErrUnknownOperation)
	require.NoError(t, enqueue.CheckOperation("Nope", true))
}
