package contract

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// This file is the pre-scan that every msgpack payload passes before
// github.com/vmihailenco/msgpack/v5 sees it.
//
// Why a scanner of our own: the library trusts declared lengths. A map32
// or array32 header declaring 2^32-1 entries makes it call make() with
// that size before it reads one element (the map[string]any and []any
// paths have no limit at all; the typed-map paths stop at a million
// entries, still tens of megabytes from 5 bytes), and its DecodeMapLen silently steps over an extension
// header and reads the extension's body as a map header. The library has
// no option that checks lengths against the input (DisableAllocLimit only
// removes its partial limits), so the scan below walks every object
// without allocating and refuses the payload unless:
//
//   - every declared length fits in the bytes that remain: a str, bin or
//     ext of n bytes needs n bytes, an array of n entries at least n (each
//     entry is at least one byte) and a map of n entries at least 2n;
//   - containers nest at most lim.depth deep, and there are at most
//     lim.containers of them;
//   - every str holds valid UTF-8, and every map key is a str;
//   - the only extension is the msgpack timestamp (type -1, 4, 8 or 12
//     bytes, nanoseconds below 10^9), the one the contract gives a meaning;
//   - nothing follows the top-level object.
//
// After it, what the library allocates while decoding is bounded by a
// constant factor of the payload's size (see TestDecodeAllocationBounded).

// mpTimestampExt is the type of msgpack's timestamp extension.
const mpTimestampExt = -1

// mpScanError is a scan problem at a byte offset of the payload.
type mpScanError struct {
	off  int
	what string
	// malformed is set when the bytes are not msgpack at all (truncated,
	// a length larger than the payload, trailing bytes), clear when they
	// are msgpack as far as they were read but break a rule of the
	// contract (too deep, bad UTF-8, an extension other than timestamps):
	// the latter come from a msgpack producer, which is answered in
	// msgpack.
	malformed bool
}

// Error returns "byte <offset>: <problem>".
func (e *mpScanError) Error() string { return fmt.Sprintf("byte %d: %s", e.off, e.what) }

// mpSpan is a half-open byte range [start, end) of the payload.
type mpSpan struct{ start, end int }

// mpScanner walks one msgpack payload. It allocates nothing unless
// secret is set, and then only the spans it collects.
type mpScanner struct {
	b          []byte
	pos        int
	lim        scanLimits
	containers int // containers opened so far
	// secret, when set, is asked about every map key; the values of the
	// keys it reports go to spans, outermost only, in payload order.
	secret func(key string) bool
	spans  []mpSpan
	hidden int // >0 while inside a value already in spans
}

// scanLimits bound the shape of a payload, in either format.
type scanLimits struct {
	// depth is how deeply containers (maps and arrays; objects and
	// arrays in JSON) may nest; the top-level one is at depth 1.
	depth int
	// containers is how many containers a payload may hold; 0 is no
	// limit.
	containers int
}

// commandLimits are a command payload's limits.
func commandLimits() scanLimits { return scanLimits{depth: MaxDepth, containers: MaxContainers} }

// recordLimits are the limits of a result or an outcome record.
func recordLimits() scanLimits { return scanLimits{depth: recordMaxDepth} }

// scanMsgpack checks b (see the file comment) and returns its first byte,
// the top-level object's code.
func scanMsgpack(b []byte, lim scanLimits) (byte, error) {
	s := mpScanner{b: b, lim: lim}
	if err := s.scan(); err != nil {
		return 0, err
	}
	return b[0], nil
}

// scan walks the whole payload: one object and nothing after it.
func (s *mpScanner) scan() error {
	if len(s.b) == 0 {
		return &mpScanError{off: 0, what: "empty payload", malformed: true}
	}
	if err := s.value(0); err != nil {
		return err
	}
	if s.pos != len(s.b) {
		return s.malformed(s.pos, "%d bytes after the top-level object", len(s.b)-s.pos)
	}
	return nil
}

// errf is a rule of the contract broken at off.
func (s *mpScanner) errf(off int, format string, args ...any) error {
	return &mpScanError{off: off, what: fmt.Sprintf(format, args...)}
}

// malformed is bytes that are not msgpack at off.
func (s *mpScanner) malformed(off int, format string, args ...any) error {
	return &mpScanError{off: off, what: fmt.Sprintf(format, args...), malformed: true}
}

// remaining is how many bytes follow the scan position.
func (s *mpScanner) remaining() int { return len(s.b) - s.pos }

// uint reads an n-byte big-endian unsigned integer (n is 1, 2 or 4), the
// length field of the object at start.
func (s *mpScanner) uint(start, n int) (uint64, error) {
	if s.remaining() < n {
		return 0, s.malformed(start, "truncated: a %d-byte length, %d bytes remain", n, s.remaining())
	}
	p := s.b[s.pos : s.pos+n]
	s.pos += n
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	default:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
}

// skip steps over the n bytes of a fixed-size scalar or of a str, bin or
// ext payload, refusing a declared size larger than what remains.
func (s *mpScanner) skip(start int, n uint64, what string) error {
	if n > uint64(s.remaining()) {
		return s.malformed(start, "%s declares %d bytes, only %d remain", what, n, s.remaining())
	}
	s.pos += int(n)
	return nil
}

// value scans one object; depth is how many containers enclose it.
func (s *mpScanner) value(depth int) error {
	if s.remaining() == 0 {
		return s.malformed(s.pos, "truncated: an object expected, the payload ends")
	}
	start := s.pos
	c := s.b[s.pos]
	s.pos++
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return nil
	case c <= 0x8f: // fixmap
		return s.mapEntries(start, uint64(c&0x0f), depth)
	case c <= 0x9f: // fixarray
		return s.arrayItems(start, uint64(c&0x0f), depth)
	case c <= 0xbf: // fixstr
		return s.str(start, uint64(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xc1:
		return s.malformed(start, "code 0xc1 is never used in msgpack")
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		n, err := s.uint(start, 1<<(c-0xc4))
		if err != nil {
			return err
		}
		return s.skip(start, n, "bin")
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		n, err := s.uint(start, 1<<(c-0xc7))
		if err != nil {
			return err
		}
		return s.ext(start, n)
	case 0xca, 0xce, 0xd2: // float 32, uint 32, int 32
		return s.skip(start, 4, "number")
	case 0xcb, 0xcf, 0xd3: // float 64, uint 64, int 64
		return s.skip(start, 8, "number")
	case 0xcc, 0xd0: // uint 8, int 8
		return s.skip(start, 1, "number")
	case 0xcd, 0xd1: // uint 16, int 16
		return s.skip(start, 2, "number")
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		return s.ext(start, 1<<(c-0xd4))
	case 0xd9, 0xda, 0xdb: // str 8, 16, 32
		n, err := s.uint(start, 1<<(c-0xd9))
		if err != nil {
			return err
		}
		return s.str(start, n)
	case 0xdc, 0xdd: // array 16, 32
		n, err := s.uint(start, 2<<(c-0xdc))
		if err != nil {
			return err
		}
		return s.arrayItems(start, n, depth)
	default: // 0xde, 0xdf: map 16, 32
		n, err := s.uint(start, 2<<(c-0xde))
		if err != nil {
			return err
		}
		return s.mapEntries(start, n, depth)
	}
}

// str steps over a str payload of n bytes, which must be valid UTF-8.
func (s *mpScanner) str(start int, n uint64) error {
	p := s.pos
	if err := s.skip(start, n, "str"); err != nil {
		return err
	}
	if !utf8.Valid(s.b[p:s.pos]) {
		return s.errf(p+invalidUTF8(s.b[p:s.pos]), "str is not valid UTF-8")
	}
	return nil
}

// ext steps over an extension of n data bytes; only timestamps pass.
func (s *mpScanner) ext(start int, n uint64) error {
	if s.remaining() < 1 {
		return s.malformed(start, "truncated: extension without its type")
	}
	typ := int8(s.b[s.pos])
	s.pos++
	data := s.pos
	if err := s.skip(start, n, "extension"); err != nil {
		return err
	}
	if typ != mpTimestampExt {
		return s.errf(start, "extension type %d: only timestamps (type -1) are accepted", typ)
	}
	var nsec uint64
	switch n {
	case 4:
	case 8:
		nsec = binary.BigEndian.Uint64(s.b[data:]) >> 34
	case 12:
		nsec = uint64(binary.BigEndian.Uint32(s.b[data:]))
	default:
		return s.errf(start, "timestamp of %d bytes: want 4, 8 or 12", n)
	}
	if nsec >= 1e9 {
		return s.errf(start, "timestamp with %d nanoseconds: want fewer than 10^9", nsec)
	}
	return nil
}

// open enters a container at depth+1, refusing one too deep or one too
// many.
func (s *mpScanner) open(start, depth int) error {
	if depth+1 > s.lim.depth {
		return s.errf(start, "maps and arrays nested deeper than %d", s.lim.depth)
	}
	s.containers++
	if s.lim.containers > 0 && s.containers > s.lim.containers {
		return s.errf(start, "more than %d maps and arrays", s.lim.containers)
	}
	return nil
}

// arrayItems scans the n entries of an array.
func (s *mpScanner) arrayItems(start int, n uint64, depth int) error {
	if err := s.open(start, depth); err != nil {
		return err
	}
	// Each entry is at least one byte: a count larger than what remains
	// is a lie, refused before anything relies on it.
	if n > uint64(s.remaining()) {
		return s.malformed(start, "array declares %d entries, only %d bytes remain", n, s.remaining())
	}
	for range n {
		if err := s.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// mapEntries scans the n key-value pairs of a map; every key is a str.
func (s *mpScanner) mapEntries(start int, n uint64, depth int) error {
	if err := s.open(start, depth); err != nil {
		return err
	}
	if n > uint64(s.remaining())/2 {
		return s.malformed(start, "map declares %d entries, only %d bytes remain", n, s.remaining())
	}
	for range n {
		keyStart := s.pos
		if s.remaining() == 0 {
			return s.malformed(s.pos, "truncated: a map key expected, the payload ends")
		}
		if c := s.b[s.pos]; !(c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb) {
			return s.errf(keyStart, "map key is not a str (code 0x%02x)", c)
		}
		if err := s.value(depth + 1); err != nil {
			return err
		}
		hide := s.secret != nil && s.hidden == 0 && s.secret(string(mpStrPayload(s.b[keyStart:s.pos])))
		valStart := s.pos
		if hide {
			s.hidden++
		}
		err := s.value(depth + 1)
		if hide {
			s.hidden--
			s.spans = append(s.spans, mpSpan{valStart, s.pos})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mpStrPayload returns the payload of the str object b, a scanned one.
func mpStrPayload(b []byte) []byte {
	switch b[0] {
	case 0xd9:
		return b[2:]
	case 0xda:
		return b[3:]
	case 0xdb:
		return b[5:]
	}
	return b[1:]
}

// invalidUTF8 returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence, or len(b).
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
