package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth bounds how deeply the objects and arrays of a command payload
// nest, in either format: the command itself is 1, its fields 2. Fields
// are scalars, so 2 would do for a valid command; 16 still lets a
// structured value sent by mistake reach the catalogue, whose field error
// names it ("want string, got array"), while it bounds the recursion of
// the decoders (both recurse once per level) and what one payload can
// make them build.
const MaxDepth = 16

// MaxContainers bounds how many objects and arrays (maps and arrays in
// msgpack) a command payload holds, the command and its fields included.
// A valid command has 2. The bound is what keeps decoding cheap: each
// container costs the decoder a fixed overhead (a Go map is some 350
// bytes once it holds an entry), so a msgpack array of 1-entry maps made
// it allocate 133 bytes per payload byte; with the bound, the costliest
// payload measured allocates 54 (a JSON array of 1-digit numbers). 64
// leaves room for structured values sent by mistake, which then get the
// catalogue's field error.
const MaxContainers = 64

// ContentTypeMsgPack marks a msgpack payload: "application/msgpack".
// "application/x-msgpack" and "application/vnd.msgpack" are read the same.
const ContentTypeMsgPack = "application/msgpack"

// ReadCommand decodes a command payload given its Content-Type header,
// and tells the format its result must be written in:
//
//   - Content-Type application/json: JSON;
//   - Content-Type application/msgpack: msgpack;
//   - no such header, and the first non-space byte is '{': JSON;
//   - otherwise, a payload that is msgpack with a map at the top is
//     msgpack, even when it breaks a rule of the contract (too deep, bad
//     UTF-8…), since its producer reads msgpack; anything else, plain text
//     typed with `nats pub`, garbage, bytes that are not msgpack
//     (truncated, lengths larger than the payload, bytes after the map),
//     is answered in JSON, so that a person can read the error.
//
// Parameters of the Content-Type (charset…) are ignored. The command
// comes back with the error when the payload cannot be read; see
// DecodeCommand.
func ReadCommand(contentType string, payload []byte) (Command, Format, error) {
	f, declared := contentFormat(contentType)
	if declared {
		c, err := DecodeCommand(f, payload)
		return c, f, err
	}
	if startsJSON(payload) {
		c, err := DecodeCommand(JSON, payload)
		return c, JSON, err
	}
	top, err := scanMsgpack(payload, commandLimits())
	var se *mpScanError
	switch {
	case err == nil && isMsgpackMap(top):
		c, err := decodeMsgpackCommand(payload)
		return c, MsgPack, err
	case errors.As(err, &se) && !se.malformed && len(payload) > 0 && isMsgpackMap(payload[0]):
		// A map whose bytes are msgpack as far as they were read, but
		// break a rule (too deep, bad UTF-8…): a msgpack producer's.
		return Command{}, MsgPack, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
	case err == nil:
		err = fmt.Errorf("it is a msgpack %s", mpKind(top))
	}
	return Command{}, JSON, fmt.Errorf("contract: payload is neither a JSON object (it does not start with '{') nor a msgpack map (%w)", err)
}

// DeclaredFormat is the format a Content-Type header names; declared is
// false when it names neither JSON nor msgpack.
func DeclaredFormat(contentType string) (f Format, declared bool) { return contentFormat(contentType) }

// contentFormat maps a Content-Type header to a format; declared is
// false when the header names neither.
func contentFormat(contentType string) (f Format, declared bool) {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, ContentTypeJSON):
		return JSON, true
	case strings.EqualFold(mt, ContentTypeMsgPack),
		strings.EqualFold(mt, "application/x-msgpack"),
		strings.EqualFold(mt, "application/vnd.msgpack"):
		return MsgPack, true
	}
	return MsgPack, false
}

// startsJSON reports whether the first non-space byte of b is '{'. No
// msgpack map starts so: '{' is a msgpack positive integer.
func startsJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// Sniff tells a payload's format: JSON when the Content-Type header says
// so or the first non-space byte is '{', msgpack otherwise.
//
// Deprecated: commands: use ReadCommand, which also answers an unreadable
// payload in JSON. Kept while callers switch.
func Sniff(contentType string, payload []byte) Format {
	if f, declared := contentFormat(contentType); declared && f == JSON || startsJSON(payload) {
		return JSON
	}
	return MsgPack
}

// DecodeCommand reads a command payload of format f. The payload is
// checked before it is decoded, so that what decoding allocates is
// proportional to its size: a msgpack payload must pass the scan of
// msgpackscan.go (declared lengths fit, nesting at most MaxDepth, at most
// MaxContainers maps and arrays, str is UTF-8, map keys are str, only
// timestamp extensions, nothing after the map); a JSON payload must be
// valid UTF-8, without lone surrogate escapes, within the same depth and
// container limits. Errors name the byte offset of such a problem.
//
// The top level is an object (a map) with the keys "id" and "fields",
// each at most once; other keys are ignored. The id must pass ValidID;
// fields, when present and not null, must be an object, each field name
// at most once (a second value would silently win). JSON numbers stay
// exact (json.Number); msgpack timestamps become time.Time.
func DecodeCommand(f Format, payload []byte) (Command, error) {
	if f == JSON {
		if err := checkJSON(payload, commandLimits()); err != nil {
			return Command{}, fmt.Errorf("contract: payload is not a JSON command object: %w", err)
		}
		return decodeJSONCommand(payload)
	}
	top, err := scanMsgpack(payload, commandLimits())
	if err != nil {
		return Command{}, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
	}
	if !isMsgpackMap(top) {
		return Command{}, fmt.Errorf("contract: payload is not a msgpack command map: it is a msgpack %s", mpKind(top))
	}
	return decodeMsgpackCommand(payload)
}

// decodeJSONCommand decodes a checked JSON payload, key by key, so that a
// key given twice is refused rather than the last one winning.
func decodeJSONCommand(payload []byte) (Command, error) {
	bad := func(err error) (Command, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the payload ended inside the object
		}
		return Command{}, fmt.Errorf("contract: payload is not a JSON command object: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return bad(err)
	}
	if tok != json.Delim('{') {
		return bad(fmt.Errorf("it is %s", jsonKind(tok)))
	}
	var r rawCommand
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := tok.(string) // in an object, Token gives a string or an error
		dst, err := r.slot(key)
		switch {
		case err != nil:
			return Command{}, err
		case dst == &r.fields:
			if err := decodeJSONFields(d, dst); err != nil {
				return Command{}, err
			}
		case dst != nil:
			if err := d.Decode(dst); err != nil {
				return bad(err)
			}
		default:
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return bad(err)
			}
		}
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return bad(err)
	}
	if rest := bytes.TrimLeft(payload[d.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return Command{}, fmt.Errorf("contract: payload has data after the JSON object (byte %d)", len(payload)-len(rest))
	}
	return r.command(JSON)
}

// decodeJSONFields decodes the value of "fields" into dst: an object is
// read key by key, so that a field given twice is refused; any other
// value is read and stands for its kind, for command to refuse.
func decodeJSONFields(d *json.Decoder, dst *any) error {
	bad := func(err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("contract: payload is not a JSON command object: %w", err)
	}
	tok, err := d.Token()
	if err != nil {
		return bad(err)
	}
	switch tok {
	case json.Delim('{'):
	case json.Delim('['):
		// Refused whatever it holds; read it only to check its syntax.
		for d.More() {
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return bad(err)
			}
		}
		if _, err := d.Token(); err != nil {
			return bad(err)
		}
		*dst = []any{}
		return nil
	default: // a scalar: the token is its value
		*dst = tok
		return nil
	}
	fields := map[string]any{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return bad(err)
		}
		name, _ := tok.(string)
		if _, dup := fields[name]; dup {
			return fmt.Errorf("contract: command has field %s twice", quoteCut(name))
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return bad(err)
		}
		fields[name] = v
	}
	if _, err := d.Token(); err != nil { // '}'
		return bad(err)
	}
	*dst = fields
	return nil
}

// decodeMsgpackCommand decodes a payload that passed scanMsgpack with a
// map at the top. The scan is what makes the library safe here: every
// length it will allocate for has been checked against the payload.
func decodeMsgpackCommand(payload []byte) (Command, error) {
	bad := func(err error) (Command, error) {
		return Command{}, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
	}
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(payload))
	n, err := d.DecodeMapLen()
	if err != nil {
		return bad(err)
	}
	var r rawCommand
	for range n {
		key, err := d.DecodeString()
		if err != nil {
			return bad(err)
		}
		switch dst, err := r.slot(key); {
		case err != nil:
			return Command{}, err
		case dst == &r.fields && isMsgpackMapCode(d):
			if *dst, err = decodeMsgpackFields(d); err != nil {
				return Command{}, err
			}
		case dst != nil:
			// DecodeInterface dispatches on the object's own code, so
			// a timestamp given as "fields" is a time.Time, refused
			// below, never read as a map header (DecodeMap would).
			if *dst, err = d.DecodeInterface(); err != nil {
				return bad(err)
			}
		default:
			if err := d.Skip(); err != nil {
				return bad(err)
			}
		}
	}
	return r.command(MsgPack)
}

// isMsgpackMapCode reports whether the next object of d is a map.
func isMsgpackMapCode(d *msgpack.Decoder) bool {
	c, err := d.PeekCode()
	return err == nil && isMsgpackMap(c)
}

// decodeMsgpackFields decodes the map of "fields" pair by pair, so that a
// field given twice is refused.
func decodeMsgpackFields(d *msgpack.Decoder) (map[string]any, error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
	}
	// The scan has checked n against the payload: 2n bytes at least.
	fields := make(map[string]any, n)
	for range n {
		name, err := d.DecodeString()
		if err != nil {
			return nil, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
		}
		if _, dup := fields[name]; dup {
			return nil, fmt.Errorf("contract: command has field %s twice", quoteCut(name))
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
		}
		fields[name] = v
	}
	return fields, nil
}

// rawCommand is a command's top-level values as decoded, before checks.
type rawCommand struct {
	id, fields         any
	seenID, seenFields bool
}

// slot returns where the value of the top-level key goes, nil for a key
// the contract ignores, or an error for a key given twice or in the wrong
// case (encoding/json would match "ID" to "id"; msgpack would not).
func (r *rawCommand) slot(key string) (*any, error) {
	switch key {
	case "id":
		if r.seenID {
			return nil, errors.New(`contract: command has "id" twice`)
		}
		r.seenID = true
		return &r.id, nil
	case "fields":
		if r.seenFields {
			return nil, errors.New(`contract: command has "fields" twice`)
		}
		r.seenFields = true
		return &r.fields, nil
	}
	if strings.EqualFold(key, "id") || strings.EqualFold(key, "fields") {
		// Short, so safe to quote.
		return nil, fmt.Errorf(`contract: command key %q: the keys are "id" and "fields", in lower case`, key)
	}
	return nil, nil
}

// command checks the decoded values and makes the Command.
func (r *rawCommand) command(f Format) (Command, error) {
	id, ok := r.id.(string)
	switch {
	case r.id == nil:
		return Command{}, errors.New(`contract: command has no "id"`)
	case !ok:
		return Command{}, fmt.Errorf(`contract: command "id" is %s, want a string`, valueKind(r.id))
	}
	if p := idProblem(id); p != "" {
		return Command{}, errors.New(`contract: command "id" ` + p)
	}
	var fields map[string]any
	switch v := r.fields.(type) {
	case nil:
		fields = map[string]any{}
	case map[string]any:
		fields = v
	default:
		want := "an object"
		if f == MsgPack {
			want = "a map"
		}
		return Command{}, fmt.Errorf(`contract: command "fields" is %s, want %s`, valueKind(v), want)
	}
	return Command{ID: id, Fields: fields}, nil
}

// EncodeCommand writes c in format f.
func EncodeCommand(f Format, c Command) ([]byte, error) {
	if f == JSON {
		return json.Marshal(c)
	}
	return msgpack.Marshal(c)
}

// valueKind names the kind of a decoded value for an error, never the
// value itself.
func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return "a number"
	case []byte:
		return "bytes"
	case time.Time:
		return "a timestamp"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// jsonKind names a JSON token that opens a value.
func jsonKind(tok json.Token) string {
	if tok == json.Delim('[') {
		return "an array"
	}
	return valueKind(tok)
}

// isMsgpackMap reports whether c starts a msgpack map.
func isMsgpackMap(c byte) bool { return c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf }

// mpKind names the kind of the msgpack object whose first byte is c.
func mpKind(c byte) string {
	switch {
	case c <= 0x7f || c >= 0xe0 || c >= 0xcc && c <= 0xd3:
		return "integer"
	case c <= 0x8f || c == 0xde || c == 0xdf:
		return "map"
	case c <= 0x9f || c == 0xdc || c == 0xdd:
		return "array"
	case c <= 0xbf || c >= 0xd9 && c <= 0xdb:
		return "str"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "bin"
	case c == 0xca || c == 0xcb:
		return "float"
	}
	return "extension"
}
