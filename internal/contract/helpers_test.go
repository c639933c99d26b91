package contract_test

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// allocated returns how many bytes fn allocated on the heap. It reads the
// whole process's counter, so callers never run in parallel with other
// tests (top-level parallel tests start only after every sequential one
// has finished; fuzz targets run after all tests).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Decoding bound: what decoding one command may allocate, k bytes per
// input byte plus a constant. k = 64, from TestDecodeAllocationBounded's
// worst shapes: in JSON an array of 1-digit numbers (54 bytes per input
// byte: encoding/json grows the []any by doubling and boxes a json.Number
// for every 2 input bytes); in msgpack a map of duplicate empty keys (26:
// each 2-byte entry reserves a Go map slot). Nested containers would cost
// more (a 1-entry Go map is ~350 bytes for 3 input bytes), which is why
// MaxContainers bounds them. C = 16 KiB covers the fixed costs: the
// decoder, error formatting, up to MaxContainers containers.
const (
	decodeAllocPerByte = 64
	decodeAllocConst   = 16 << 10
)

// requireDecodeBounded fails t when fn allocates more than the decoding
// bound for n input bytes.
func requireDecodeBounded(t *testing.T, n int, fn func()) uint64 {
	t.Helper()
	fn() // warm up: pools, type caches
	got := allocated(fn)
	require.LessOrEqual(t, got, uint64(decodeAllocPerByte*n+decodeAllocConst), "allocated %d bytes for %d input bytes", got, n)
	return got
}

// mp encodes v in msgpack, for building test payloads.
func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

// header is a msgpack header: code then a big-endian length of size
// bytes.
func header(code byte, size int, n uint32) []byte {
	b := []byte{code, 0, 0, 0, 0}
	switch size {
	case 1:
		b[1] = byte(n)
	case 2:
		binary.BigEndian.PutUint16(b[1:], uint16(n))
	default:
		binary.BigEndian.PutUint32(b[1:], n)
	}
	return b[:1+size]
}

// cat joins byte slices.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// mpStr is s as a msgpack str.
func mpStr(s string) []byte {
	if len(s) < 32 {
		return append([]byte{0xa0 | byte(len(s))}, s...)
	}
	return append(header(0xdb, 4, uint32(len(s))), s...)
}

// inFields wraps the msgpack object v as the value of field "v" of a
// command with id "x": {"id": "x", "fields": {"v": v}}.
func inFields(v []byte) []byte {
	return cat([]byte{0x82}, mpStr("id"), mpStr("x"), mpStr("fields"), []byte{0x81}, mpStr("v"), v)
}

// asID puts the msgpack object v as a command's id: {"id": v}.
func asID(v []byte) []byte { return cat([]byte{0x81}, mpStr("id"), v) }

// repeat is n copies of b.
func repeat(b []byte, n int) []byte { return []byte(strings.Repeat(string(b), n)) }

// pad is n bytes of msgpack nil, so that a bomb is a whole 21 bytes.
func pad(n int) []byte { return repeat([]byte{0xc0}, n) }
