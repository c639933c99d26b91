package contract

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Redacted is what Redact puts in place of a secret field's value.
const Redacted = "[redacted]"

// SecretFieldsDefault returns the fields redacted when none are
// configured: Password (ClientUserAdd, ClientUserEdit… take one).
func SecretFieldsDefault() []string { return []string{"Password"} }

// SecretFields returns the predicate Redact takes: true for a field whose
// name is one of names, compared case-insensitively ("password" and
// "PASSWORD" are Password: a producer's mistyped case must not leak it).
// With no names it uses SecretFieldsDefault.
func SecretFields(names ...string) func(field string) bool {
	if len(names) == 0 {
		names = SecretFieldsDefault()
	}
	names = append([]string(nil), names...)
	return func(field string) bool {
		for _, n := range names {
			if strings.EqualFold(field, n) {
				return true
			}
		}
		return false
	}
}

// maxKeyGuess bounds the length of a key the best-effort redaction of an
// unreadable payload considers. Field names are short API names; the
// bound, and taking only keys made of name bytes (see isNameByte), keep
// the candidates apart, so that the search costs time and memory linear
// in the payload.
const maxKeyGuess = 64

// Redact returns payload with the value of every secret field replaced by
// the string Redacted, for a dead letter or a log line. secret says which
// field names are secret; nil means SecretFields().
//
// Every map key at any depth is a field name here, not only the keys of
// "fields": fields are scalars, but a structured value sent by mistake,
// or an unknown top-level key, must not carry a password through.
//
// A payload readable in format f, or else in the other format, is
// redacted exactly: a msgpack payload (one that passes the scan of
// DecodeCommand) keeps every other byte, only the secret values are
// replaced; a JSON payload is decoded and encoded again (keys sorted, a
// key given twice once, numbers as written). An unreadable payload gets a
// best effort for keys of up to 64 ASCII letters, digits, '_', '-' and
// '.' (what API names are made of): every `"<key>" : <value>` that looks
// like JSON text, and every msgpack str key followed by a value, has the
// value replaced, to the end of the payload when the value's end cannot
// be found; the rest is returned as it is. The result shares payload's
// memory when nothing is replaced.
func Redact(f Format, payload []byte, secret func(field string) bool) []byte {
	if secret == nil {
		secret = SecretFields()
	}
	order := [2]Format{f, JSON}
	if f == JSON {
		order[1] = MsgPack
	}
	for _, g := range order {
		var out []byte
		var ok bool
		if g == JSON {
			out, ok = redactJSON(payload, secret)
		} else {
			out, ok = redactMsgpack(payload, secret)
		}
		if ok {
			return out
		}
	}
	return RedactText(payload, secret)
}

// RedactText is Redact's best effort for unreadable payloads alone: the
// payload is never decoded, only searched, so it is safe for a payload
// that must not be decoded again (a command that may have killed the
// workers that read it).
func RedactText(payload []byte, secret func(field string) bool) []byte {
	if secret == nil {
		secret = SecretFields()
	}
	return redactMsgpackGuess(redactJSONGuess(payload, secret), secret)
}

// redactJSON redacts a readable JSON payload; ok is false when it is not
// one.
func redactJSON(payload []byte, secret func(string) bool) (out []byte, ok bool) {
	if !startsJSONValue(payload) || checkJSON(payload, commandLimits()) != nil {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if len(bytes.TrimLeft(payload[d.InputOffset():], " \t\r\n")) > 0 {
		return nil, false
	}
	if !redactValue(v, secret) {
		return payload, true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), true
}

// startsJSONValue reports whether b's first non-space byte can start a
// JSON object or array, the only payloads that can hold a field.
func startsJSONValue(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// redactValue replaces, in place, the value of every secret key of every
// object in v, and reports whether it replaced any.
func redactValue(v any, secret func(string) bool) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if secret(k) {
				x[k] = Redacted
				changed = true
			} else if redactValue(val, secret) {
				changed = true
			}
		}
	case []any:
		for _, val := range x {
			if redactValue(val, secret) {
				changed = true
			}
		}
	}
	return changed
}

// redactMsgpack redacts a readable msgpack payload, replacing each secret
// value's bytes with a msgpack str; the containers around it declare
// entry counts, not sizes, so they stay valid. ok is false when payload
// is not readable msgpack.
func redactMsgpack(payload []byte, secret func(string) bool) (out []byte, ok bool) {
	s := mpScanner{b: payload, lim: commandLimits(), secret: secret}
	if err := s.scan(); err != nil {
		return nil, false
	}
	if len(s.spans) == 0 {
		return payload, true
	}
	out = make([]byte, 0, len(payload)+len(s.spans)*(1+len(Redacted)))
	last := 0
	for _, sp := range s.spans {
		out = append(out, payload[last:sp.start]...)
		out = appendMsgpackRedacted(out)
		last = sp.end
	}
	return append(out, payload[last:]...), true
}

// appendMsgpackRedacted appends Redacted as a msgpack fixstr.
func appendMsgpackRedacted(b []byte) []byte {
	return append(append(b, 0xa0|byte(len(Redacted))), Redacted...)
}

// redactJSONGuess is the best effort on text that is not readable JSON:
// at every '"', a quoted key of name bytes (at most maxKeyGuess) followed
// by ':' is looked at, whether or not the quotes before it paired up, and
// a secret one has its value replaced by "[redacted]".
func redactJSONGuess(b []byte, secret func(string) bool) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		n := nameLen(b[i+1:])
		end := i + 1 + n
		if n == 0 || end >= len(b) || b[end] != '"' {
			continue
		}
		colon := skipJSONSpace(b, end+1)
		if colon >= len(b) || b[colon] != ':' || !secret(string(b[i+1:end])) {
			continue
		}
		start := skipJSONSpace(b, colon+1)
		stop := guessValueEnd(b, start)
		out = append(append(out, b[last:start]...), `"`+Redacted+`"`...)
		last = stop
		i = stop - 1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// isNameByte reports whether c may be part of a field name the best-effort
// redaction recognises: ASCII letters, digits, '_', '-' and '.', what the
// API's parameter names (XML names) are made of.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// nameLen returns how many name bytes b starts with, 0 when more than
// maxKeyGuess.
func nameLen(b []byte) int {
	for i, c := range b {
		if !isNameByte(c) {
			return i
		}
		if i == maxKeyGuess {
			return 0
		}
	}
	if len(b) > maxKeyGuess {
		return 0
	}
	return len(b)
}

// skipJSONSpace returns the offset of the first byte from i on that is
// not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// guessValueEnd returns where the JSON-looking value at b[i] ends: after
// its closing quote or bracket, before the next ',', '}', ']' or space
// for a bare word, or at the end of b when that cannot be found.
func guessValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		if end, err := jsonStringEnd(b, i); err == nil && end < len(b) {
			return end + 1
		}
		return len(b)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			case '"':
				end, err := jsonStringEnd(b, j)
				if err != nil || end == len(b) {
					return len(b)
				}
				j = end
			}
		}
		return len(b)
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(b)
}

// redactMsgpackGuess is the best effort on bytes that are not readable
// msgpack: at every byte that starts a msgpack fixstr or str8 of name
// bytes (at most maxKeyGuess) naming a secret field, the object that
// follows is replaced by the str Redacted, or everything to the end when
// that object is not well-formed.
func redactMsgpackGuess(b []byte, secret func(string) bool) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		key, next := guessMsgpackStr(b, i)
		if next < 0 || next >= len(b) || !secret(string(key)) {
			continue
		}
		stop := len(b)
		s := mpScanner{b: b[next:], lim: commandLimits()}
		if s.value(0) == nil {
			stop = next + s.pos
		}
		out = appendMsgpackRedacted(append(out, b[last:next]...))
		last = stop
		i = stop - 1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// guessMsgpackStr reads a msgpack fixstr or str8 of name bytes at b[i]:
// its payload and the offset after it, or next -1.
func guessMsgpackStr(b []byte, i int) (key []byte, next int) {
	c := b[i]
	start, n := 0, 0
	switch {
	case c >= 0xa0 && c <= 0xbf:
		start, n = i+1, int(c&0x1f)
	case c == 0xd9 && i+1 < len(b):
		start, n = i+2, int(b[i+1])
	default:
		return nil, -1
	}
	if n == 0 || start+n > len(b) || nameLen(b[start:start+n]) != n {
		return nil, -1
	}
	return b[start : start+n], start + n
}
