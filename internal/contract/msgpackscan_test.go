package contract_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// payloadCase is a named payload and the error it must give.
type payloadCase struct {
	name    string
	payload []byte
	wantErr string
}

// bombs are payloads whose headers declare far more than they hold, each
// at the top level, as a field's value and as the id. Before the scan,
// the 21-byte map32 one made the msgpack library allocate gigabytes.
func bombs() []payloadCase {
	objects := []payloadCase{
		{"map32 of 2^32-1", header(0xdf, 4, 1<<32-1), "map declares 4294967295 entries"},
		{"array32 of 2^32-1", header(0xdd, 4, 1<<32-1), "array declares 4294967295 entries"},
		{"map16 of 65535", header(0xde, 2, 65535), "map declares 65535 entries"},
		{"array16 of 65535", header(0xdc, 2, 65535), "array declares 65535 entries"},
		{"str32 of 4 GiB", header(0xdb, 4, 1<<32-1), "str declares 4294967295 bytes"},
		{"bin32 of 4 GiB", header(0xc6, 4, 1<<32-1), "bin declares 4294967295 bytes"},
		{"ext32 of 4 GiB", append(header(0xc9, 4, 1<<32-1), 0xff), "extension declares 4294967295 bytes"},
		{"str8 past the end", header(0xd9, 1, 200), "str declares 200 bytes"},
		{"deep arrays", repeat([]byte{0x91}, 2000), "nested deeper than 16"},
		{"deep maps", repeat(cat([]byte{0x81}, mpStr("k")), 1000), "nested deeper than 16"},
		{"many containers", cat(header(0xdc, 2, 1000), repeat([]byte{0x80}, 1000)), "more than 64 maps and arrays"},
	}
	var out []payloadCase
	for _, o := range objects {
		top := o.payload
		if len(top) < 21 {
			top = cat(top, pad(21-len(top)))
		}
		out = append(out,
			payloadCase{o.name + " at the top", top, o.wantErr},
			payloadCase{o.name + " in fields", cat(inFields(o.payload), pad(16)), o.wantErr},
			payloadCase{o.name + " as the id", cat(asID(o.payload), pad(16)), o.wantErr},
		)
	}
	return out
}

func TestBombsAreRefusedCheaply(t *testing.T) {
	for _, tc := range bombs() {
		t.Run(tc.name, func(t *testing.T) {
			for _, ct := range []string{"", contract.ContentTypeMsgPack} {
				var err error
				requireDecodeBounded(t, len(tc.payload), func() {
					_, _, err = contract.ReadCommand(ct, tc.payload)
				})
				require.ErrorContains(t, err, tc.wantErr)
				requireDecodeBounded(t, len(tc.payload), func() {
					contract.Redact(contract.MsgPack, tc.payload, nil)
				})
			}
		})
	}
	t.Run("the 21-byte map32 command", func(t *testing.T) {
		b := cat(header(0xdf, 4, 1<<32-1), pad(16))
		require.Len(t, b, 21)
		got := requireDecodeBounded(t, len(b), func() { _, _, _ = contract.ReadCommand("", b) })
		t.Logf("21-byte map32 bomb: %d bytes allocated", got)
	})
}

// TestDecodeAllocationBounded decodes large valid payloads of the shapes
// that cost the decoders most per input byte, and holds them to the bound.
func TestDecodeAllocationBounded(t *testing.T) {
	const n = 50000
	keys := func(val []byte) []byte {
		var b []byte
		b = append(b, header(0xde, 2, n)...)
		for i := range n {
			b = append(b, mpStr(fmt.Sprintf("k%05d", i))...)
			b = append(b, val...)
		}
		return b
	}
	cases := []struct {
		name    string
		payload []byte
		wantErr string
	}{
		{"array of nils", inFields(cat(header(0xdc, 2, n), repeat([]byte{0xc0}, n))), ""},
		{"array of empty strs", inFields(cat(header(0xdc, 2, n), repeat([]byte{0xa0}, n))), ""},
		{"array of 1-byte strs", inFields(cat(header(0xdc, 2, n), repeat(mpStr("a"), n))), ""},
		{"array of 1-byte bins", inFields(cat(header(0xdc, 2, n), repeat([]byte{0xc4, 1, 0}, n))), ""},
		{"array of int16", inFields(cat(header(0xdc, 2, n), repeat([]byte{0xd1, 1, 2}, n))), ""},
		{"array of timestamps", inFields(cat(header(0xdc, 2, n), repeat([]byte{0xd6, 0xff, 0, 0, 0, 1}, n))), ""},
		{"fields of nils", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), keys([]byte{0xc0})), ""},
		{"fields of duplicate empty keys", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), header(0xde, 2, n), repeat([]byte{0xa0, 0xc0}, n)), `field "" twice`},
		{"json array of numbers", []byte(`{"id":"x","fields":{"v":[` + strings.Repeat("1,", n) + `1]}}`), ""},
		{"json array of empty strings", []byte(`{"id":"x","fields":{"v":[` + strings.Repeat(`"",`, n) + `""]}}`), ""},
		{"json many fields", []byte(`{"id":"x","fields":{` + jsonKeys(n) + `}}`), ""},
		{"json duplicate fields", []byte(`{"id":"x","fields":{` + strings.Repeat(`"":1,`, n) + `"a":1}}`), `field "" twice`},
		{"json long string", []byte(`{"id":"x","fields":{"v":"` + strings.Repeat("я", n) + `"}}`), ""},
		{"json escapes", []byte(`{"id":"x","fields":{"v":"` + strings.Repeat(`\u0416`, n) + `"}}`), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			got := requireDecodeBounded(t, len(tc.payload), func() { _, _, err = contract.ReadCommand("", tc.payload) })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			t.Logf("%d bytes in, %d allocated (%.1f per byte)", len(tc.payload), got, float64(got)/float64(len(tc.payload)))
			requireDecodeBounded(t, len(tc.payload), func() { contract.Redact(contract.MsgPack, tc.payload, nil) })
		})
	}
}

// jsonKeys is n JSON fields "k00000":1, "k00001":1…
func jsonKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%05d":1`, i)
	}
	return b.String()
}

func TestMsgpackScanRules(t *testing.T) {
	ts := func(data ...byte) []byte { return append([]byte{0xd6, 0xff}, data...) }
	cases := []struct {
		name    string
		payload []byte
		wantErr string // "" for a decodable command
	}{
		{"a valid command", mp(t, map[string]any{"id": "a", "fields": map[string]any{"N": 1, "At": time.Unix(5, 0)}}), ""},
		{"empty", nil, "empty payload"},
		{"trailing bytes", cat(mp(t, map[string]any{"id": "a"}), []byte{0xc0}), "1 bytes after the top-level object"},
		{"truncated map", []byte{0x82, 0xa2, 'i', 'd'}, "map declares 2 entries, only 3 bytes remain"},
		{"truncated str", []byte{0x81, 0xa2, 'i', 'd', 0xa5, 'a'}, "str declares 5 bytes, only 1 remain"},
		{"unused code", inFields([]byte{0xc1}), "code 0xc1"},
		{"invalid UTF-8 in a str", inFields(mpStr("a\xffb")), "byte 18: str is not valid UTF-8"},
		{"invalid UTF-8 in a key", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), []byte{0x81}, mpStr("\xc3"), []byte{0xc0}), "str is not valid UTF-8"},
		{"integer key", cat([]byte{0x81}, []byte{0x01}, mpStr("x")), "map key is not a str (code 0x01)"},
		{"bin key", cat([]byte{0x81}, []byte{0xc4, 2, 'i', 'd'}, mpStr("x")), "map key is not a str (code 0xc4)"},
		{"unknown extension", inFields([]byte{0xd4, 0x05, 0x00}), "extension type 5"},
		{"timestamp of 2 bytes", inFields([]byte{0xd5, 0xff, 0, 0}), "timestamp of 2 bytes"},
		{"timestamp with 10^9 ns", inFields(cat([]byte{0xc7, 12, 0xff}, []byte{0x3b, 0x9a, 0xca, 0x00}, make([]byte, 8))), "nanoseconds"},
		{"timestamp of 12 bytes", inFields(cat([]byte{0xc7, 12, 0xff}, make([]byte, 12))), ""},
		// msgpack's DecodeMapLen steps over an extension header and reads
		// its body as a map header: a timestamp given as "fields" whose
		// bytes spell map32 must be refused as a timestamp, not decoded.
		{"timestamp as fields", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), ts(0xdf, 0xff, 0xff, 0xff)), `"fields" is a timestamp, want a map`},
		{"field twice", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), []byte{0x82}, mpStr("Password"), mpStr("a"), mpStr("Password"), mpStr("b")), `command has field "Password" twice`},
		{"fields nil", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), []byte{0xc0}), ""},
		{"fields an array", cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), []byte{0x90}), `"fields" is an array, want a map`},
		{"array at the top", mp(t, []any{"id", "x"}), "it is a msgpack array"},
		{"depth 16 passes", inFields(cat(repeat([]byte{0x91}, 14), []byte{0xc0})), ""},
		{"depth 17 fails", inFields(cat(repeat([]byte{0x91}, 15), []byte{0xc0})), "nested deeper than 16"},
		{"64 containers pass", inFields(cat(header(0xdc, 2, 61), repeat([]byte{0x90}, 61))), ""},
		{"65 containers fail", inFields(cat(header(0xdc, 2, 62), repeat([]byte{0x90}, 62))), "more than 64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := contract.DecodeCommand(contract.MsgPack, tc.payload)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
