package contract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Fuzz bound: what one command may cost through everything the worker
// does with it (ReadCommand, HeaderID, ReplyPolicy.Check, Redact), k bytes
// per input byte plus a constant. k = 128 is the decoding bound's 64
// (JSON arrays of 1-digit numbers, the worst shape) twice over: Redact of
// a readable JSON payload decodes it again and writes it out once more.
// C = 64 KiB: the decoding constant, Redact's encoder, and room for what
// the fuzzing engine itself allocates while a call is measured.
const (
	fuzzAllocPerByte = 128
	fuzzAllocConst   = 64 << 10
)

// fuzzSeed is one input of FuzzDecodeCommand.
type fuzzSeed struct {
	payload                     []byte
	contentType, msgID, replyTo string
}

// fuzzSeeds are FuzzDecodeCommand's seed corpus: valid commands in both
// formats, the bombs, invalid UTF-8, text, hostile headers, and the
// findings of earlier runs (regressions, kept here rather than in
// testdata so that every `go test` runs them).
func fuzzSeeds(t testing.TB) []fuzzSeed {
	valid := mp(t, map[string]any{"id": "m-1", "fields": map[string]any{
		"Name": "Анна", "Password": "secret1", "N": int64(-5), "F": 1.5, "B": true, "Nil": nil,
		"At": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "Bytes": []byte{1, 2},
	}})
	seeds := []fuzzSeed{
		{[]byte(`{"id":"c-1","fields":{"Name":"Анна","Password":"secret1","N":12345678901234567890}}`), contract.ContentTypeJSON, "c-1", "_INBOX.abc"},
		{[]byte(`{"id":"c-2"}`), "", "c-2", ""},
		{valid, contract.ContentTypeMsgPack, "m-1", "connect.reply.x"},
		{valid, "", "m-1", "_INBOX.>"},
		{[]byte("{\"id\":\"a\xff\"}"), "", "a", "$KV.CONNECT_QUOTA.op.ClientUserEdit.123"},
		{[]byte(`{"id":"a\ud800","fields":{"Password":"x"}}`), contract.ContentTypeJSON, "", "connect.result.X"},
		{[]byte("hello, worker"), "text/plain", strings.Repeat("k", 5<<10), "foo bar"},
		{[]byte(`{"id":"a","fields":{"v":` + strings.Repeat("[", 1000)), "", "a\x00", "_INBOX..x"},
		{nil, "", "", ""},
		{[]byte{0xc1}, "application/x-msgpack", "", "$JS.API.STREAM.DELETE.CONNECT_CMD"},
		{[]byte(`{"id":"a","fields":{"Password":"x"}} junk`), "", "", "_INBOX." + strings.Repeat("a", 5<<10)},
	}
	for _, b := range bombs() {
		seeds = append(seeds, fuzzSeed{b.payload, "", "x", "_INBOX.x"})
	}
	return seeds
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.payload, s.contentType, s.msgID, s.replyTo)
	}
	policy := workerPolicy()
	secret := contract.SecretFields()
	f.Fuzz(func(t *testing.T, payload []byte, contentType, msgID, replyTo string) {
		checkCommand(t, policy, secret, fuzzSeed{payload, contentType, msgID, replyTo})
	})
}

// checkCommand runs one command through everything the worker does with
// its bytes, holds it to the allocation bound, and checks the invariants.
func checkCommand(t *testing.T, policy contract.ReplyPolicy, secret func(string) bool, s fuzzSeed) {
	var (
		c          contract.Command
		format     contract.Format
		err        error
		hid        string
		herr, rerr error
		redacted   []byte
	)
	n := len(s.payload) + len(s.contentType) + len(s.msgID) + len(s.replyTo)
	got := allocated(func() {
		c, format, err = contract.ReadCommand(s.contentType, s.payload)
		hid, herr = contract.HeaderID(s.msgID)
		rerr = policy.Check(s.replyTo)
		redacted = contract.Redact(format, s.payload, secret)
	})
	require.LessOrEqual(t, got, uint64(fuzzAllocPerByte*n+fuzzAllocConst), "allocated %d bytes for %d input bytes", got, n)

	// The header id is the header or nothing, and always a valid id.
	if herr == nil && hid != "" {
		require.Equal(t, s.msgID, hid)
		require.NoError(t, contract.ValidID(hid))
	}
	if herr != nil {
		require.Empty(t, hid)
	}
	// An allowed reply subject is a plain subject in the allowed spaces.
	if rerr == nil {
		require.LessOrEqual(t, len(s.replyTo), contract.DefaultReplyMaxLen)
		require.True(t, strings.HasPrefix(s.replyTo, "_INBOX.") || strings.HasPrefix(s.replyTo, "connect.reply."), s.replyTo)
		require.NotContains(t, s.replyTo, " ")
		require.NotContains(t, s.replyTo, "..")
	} else {
		require.LessOrEqual(t, len(rerr.Error()), 512, "errors stay short")
	}
	if err != nil {
		require.Empty(t, c.ID)
		return
	}
	// A decoded command: its id is valid, it survives its own format.
	require.NoError(t, contract.ValidID(c.ID))
	require.NotNil(t, c.Fields)
	ct := contract.ContentTypeMsgPack
	if format == contract.JSON {
		ct = contract.ContentTypeJSON
	}
	again, err := contract.EncodeCommand(format, c)
	require.NoError(t, err)
	c2, f2, err := contract.ReadCommand(ct, again)
	require.NoError(t, err)
	require.Equal(t, format, f2)
	require.Equal(t, c.ID, c2.ID)
	require.Len(t, c2.Fields, len(c.Fields))
	for k := range c.Fields {
		require.Contains(t, c2.Fields, k)
	}
	// Redacted, it is the same command with every secret hidden.
	c3, _, err := contract.ReadCommand(ct, redacted)
	require.NoError(t, err, "redacted payload")
	require.Equal(t, c.ID, c3.ID)
	require.Len(t, c3.Fields, len(c.Fields))
	for k, v := range c3.Fields {
		if secret(k) {
			require.Equal(t, contract.Redacted, v)
		}
	}
}
