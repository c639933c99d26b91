package catalog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// FieldError is one problem with one field of a command.
type FieldError struct {
	// Op is the operation the command is for.
	Op string
	// Field is the field's name as given.
	Field string
	// Problem says what is wrong, e.g. "required", "unknown field",
	// "longer than 20 characters (got 23)", "not a UUID".
	Problem string
}

// Error returns "catalog: <Op>: <Field>: <Problem>".
func (e FieldError) Error() string {
	return "catalog: " + e.Op + ": " + e.Field + ": " + e.Problem
}

// FieldErrors are all the problems of one command, sorted by field name.
// Fields returns it as its error; callers get it with errors.As.
type FieldErrors []FieldError

// Error lists every problem: "catalog: ClientUserEdit: Name: required;
// Phone: longer than 320 characters (got 400)".
func (es FieldErrors) Error() string {
	if len(es) == 0 {
		return "catalog: no field errors"
	}
	var b strings.Builder
	b.WriteString("catalog: ")
	b.WriteString(es[0].Op)
	b.WriteString(": ")
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		// All errors of one call share the operation; say it again only
		// if a caller has merged lists of different operations.
		if e.Op != es[0].Op {
			b.WriteString(e.Op + ": ")
		}
		b.WriteString(e.Field)
		b.WriteString(": ")
		b.WriteString(e.Problem)
	}
	return b.String()
}

// Unwrap returns each FieldError, so that errors.As finds a single one too.
func (es FieldErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// FieldLimits bound what Fields accepts beyond the catalogue's
// declarations. Zero fields take defaults.
type FieldLimits struct {
	// MaxUnknownBytes is the most bytes a string (its UTF-8), a
	// json.Number (its digits) or a []byte (its raw length) may hold in a
	// field that no parameter declares, in an operation whose parameters
	// are not published. Defaults to DefaultMaxUnknownBytes. Declared
	// parameters (file data included) are bound by their declarations
	// instead.
	MaxUnknownBytes int
	// Objects, when set, reads a field given as a reference to a stored
	// object ({"$object": {…}}, package files) into a value streamed from
	// it: ok is false when v is not a reference, problem says what is
	// wrong with one that is. Binary parameters take references, and so
	// do the fields of operations whose parameters are not published.
	// Nil: no field takes a reference.
	Objects func(v any) (val soap.Value, problem string, ok bool)
}

// DefaultMaxUnknownBytes is FieldLimits.MaxUnknownBytes' default, 64 KiB:
// twice the longest declared text (ServiceRequestAdd's Description, 8,000
// characters, at most 32,000 bytes of UTF-8), so that no real field is
// refused, while one field cannot carry a whole payload.
const DefaultMaxUnknownBytes = 64 << 10

func (l FieldLimits) withDefaults() FieldLimits {
	if l.MaxUnknownBytes <= 0 {
		l.MaxUnknownBytes = DefaultMaxUnknownBytes
	}
	return l
}

// object reads v as an object reference where binary takes one; ok is
// false when it is not one (or references are not read).
func (l FieldLimits) object(v any, binary bool) (soap.Value, string, bool) {
	if l.Objects == nil || !binary {
		return soap.Value{}, "", false
	}
	if _, isMap := v.(map[string]any); !isMap {
		return soap.Value{}, "", false
	}
	return l.Objects(v)
}

// Fields is FieldsWithin with the default FieldLimits.
func (op *Operation) Fields(fields map[string]any) ([]soap.Property, error) {
	return op.FieldsWithin(fields, FieldLimits{})
}

// FieldsWithin validates a command's fields and converts them to typed
// soap properties, ready to become a Params Structure, a packet row or
// (for Plain operations) the plain child elements.
//
// Values may come from encoding/json (string, float64, json.Number, bool,
// nil) or from msgpack (any integer or float width, string, bool, nil,
// time.Time, []byte). Objects and arrays are never accepted. Known
// parameters are checked against their declaration: presence when required
// (a null counts as absent), type, length in characters, UUID form of
// identifiers, date and time forms (2006-01-02, 2006-01-02T15:04:05, RFC
// 3339 or a time.Time; offsets are dropped, the service reads wall-clock
// times in the account's time zone), finite numbers and base64. A null
// optional parameter is sent as nil.
//
// When the operation's parameters are known, any other field is an error.
// When they are not, any other field whose name is valid (soap.ValidName,
// the rule the encoder applies too) is accepted and typed by its value:
// string as xs:string, numbers as xs:decimal, bool as xs:boolean,
// time.Time as xs:dateTime, []byte as xs:base64Binary, nil as nil; a
// string, number or []byte longer than lim.MaxUnknownBytes is an error.
//
// The properties come out with the known parameters first, in catalogue
// order, then the other fields sorted by name. On any problem FieldsWithin
// returns nil and a FieldErrors listing every problem. A problem never
// quotes a field's value: it names the value's type and, for strings and
// bytes, their length.
func (op *Operation) FieldsWithin(fields map[string]any, lim FieldLimits) ([]soap.Property, error) {
	lim = lim.withDefaults()
	var errs FieldErrors
	fail := func(field, problem string) {
		errs = append(errs, FieldError{Op: op.Name, Field: field, Problem: problem})
	}
	// One property per field at most: a single allocation on the happy
	// path (the benchmark watches it).
	out := make([]soap.Property, 0, len(fields))
	matched := 0 // fields that name a known parameter
	// Known parameters first, in catalogue order: that order is the column
	// order of a packet and the element order of plain children.
	for _, p := range op.Params {
		v, ok := fields[p.Name]
		if ok {
			matched++
		}
		// Absent and null are the same to a required parameter; an
		// optional one given as null is sent as nil (xsi:nil), which lets
		// an edit clear a value, while an absent one is left out.
		if v == nil {
			if p.Required {
				fail(p.Name, "required")
			} else if ok {
				out = append(out, soap.Property{Name: p.Name, Value: soap.Null()})
			}
			continue
		}
		val, problem, isRef := lim.object(v, p.Type == soap.KindBinary)
		if !isRef {
			val, problem = p.convert(v)
		}
		if problem != "" {
			fail(p.Name, problem)
			continue
		}
		out = append(out, soap.Property{Name: p.Name, Value: val})
	}
	if matched < len(fields) {
		// Only now pay for collecting and sorting the other names.
		extra := make([]string, 0, len(fields)-matched)
		for name := range fields {
			if _, known := op.Param(name); !known {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		// Each remaining field is either an error (the parameters are
		// known) or passed through, typed by its value.
		for _, name := range extra {
			switch {
			case op.ParamsKnown:
				fail(name, op.unknownProblem(name))
			case !soap.ValidName(name):
				fail(name, "not a valid name (want letters, digits, '_', '-' or '.', starting with a letter or '_', such as ClientID)")
			default:
				val, problem, isRef := lim.object(fields[name], true)
				if !isRef {
					val, problem = byValue(fields[name], lim.MaxUnknownBytes)
				}
				if problem != "" {
					fail(name, problem)
					continue
				}
				out = append(out, soap.Property{Name: name, Value: val})
			}
		}
	}
	if len(errs) > 0 {
		// Known parameters were checked in catalogue order and the
		// others by name: sort once so the report reads by field.
		slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, errs
	}
	return out, nil
}

// unknownProblem describes a field an operation with known parameters does
// not take, pointing at a parameter whose name differs only in case.
func (op *Operation) unknownProblem(name string) string {
	for _, p := range op.Params {
		if strings.EqualFold(p.Name, name) {
			return "unknown field (did you mean " + p.Name + "?)"
		}
	}
	return "unknown field"
}

// convert checks v against p and returns its soap value, or a problem.
func (p Param) convert(v any) (soap.Value, string) {
	switch p.Type {
	case soap.KindString:
		// Only a Go string is text: a number given for a string is far
		// more often a producer's mistake (an id or a phone as a number)
		// than an intent, so it is named rather than formatted.
		s, ok := v.(string)
		if !ok {
			return soap.Value{}, want(p.Type, v)
		}
		if problem := checkText(s); problem != "" {
			return soap.Value{}, problem
		}
		if p.ID && !isUUID(s) {
			return soap.Value{}, "not a UUID"
		}
		if p.MaxLen > 0 {
			if n := utf8.RuneCountInString(s); n > p.MaxLen {
				return soap.Value{}, fmt.Sprintf("longer than %d characters (got %d)", p.MaxLen, n)
			}
		}
		return soap.String(s), ""
	case soap.KindDecimal:
		// JSON producers often quote numbers to keep precision: a string
		// is accepted when it is a decimal, and kept digit for digit.
		if s, ok := v.(string); ok {
			d, err := soap.ParseDecimal(s)
			if err != nil {
				return soap.Value{}, want(p.Type, v)
			}
			return soap.Decimal(d), ""
		}
		val, problem, ok := number(v)
		if !ok {
			return soap.Value{}, want(p.Type, v)
		}
		return val, problem
	case soap.KindBoolean:
		switch b := v.(type) {
		case bool:
			return soap.Bool(b), ""
		case string:
			if b == "true" || b == "false" {
				return soap.Value{Kind: soap.KindBoolean, Text: b}, ""
			}
		}
		return soap.Value{}, want(p.Type, v)
	case soap.KindDateTime, soap.KindDate:
		return p.convertTime(v)
	case soap.KindBinary:
		// msgpack carries bytes; JSON can only carry them as base64 text,
		// which is checked and then sent as written.
		switch b := v.(type) {
		case []byte:
			return soap.Binary(b), ""
		case string:
			if _, err := base64.StdEncoding.DecodeString(b); err != nil {
				return soap.Value{}, "not base64 (want standard base64 with padding)"
			}
			return soap.Value{Kind: soap.KindBinary, Text: b}, ""
		}
		return soap.Value{}, want(p.Type, v)
	}
	// The catalogue declares no other types; a test keeps it so.
	return soap.Value{}, "parameter of unsupported type " + p.Type.String()
}

// convertTime converts a time.Time or one of the accepted string forms to
// an xs:dateTime or xs:date value; a date keeps the calendar day.
func (p Param) convertTime(v any) (soap.Value, string) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		// The location only matters for forms without an offset, whose
		// wall clock is kept as written.
		parsed, err := soap.ParseTime(x, time.UTC)
		if err != nil {
			if p.Type == soap.KindDate {
				return soap.Value{}, "not a date (want " + soap.DateLayout + ")"
			}
			return soap.Value{}, "not a date and time (want " + soap.DateTimeLayout + ")"
		}
		t = parsed
	default:
		return soap.Value{}, want(p.Type, v)
	}
	if p.Type == soap.KindDate {
		return soap.Date(t), ""
	}
	return soap.DateTime(t), ""
}

// byValue types a field of an operation whose parameters are not known;
// a text or bytes longer than maxBytes is a problem.
func byValue(v any, maxBytes int) (soap.Value, string) {
	tooLong := func(n int) string { return fmt.Sprintf("longer than %d bytes (got %d)", maxBytes, n) }
	switch x := v.(type) {
	case nil:
		return soap.Null(), ""
	case string:
		if len(x) > maxBytes {
			return soap.Value{}, tooLong(len(x))
		}
		if problem := checkText(x); problem != "" {
			return soap.Value{}, problem
		}
		return soap.String(x), ""
	case json.Number:
		if len(x) > maxBytes {
			return soap.Value{}, tooLong(len(x))
		}
	case bool:
		return soap.Bool(x), ""
	case time.Time:
		return soap.DateTime(x), ""
	case []byte:
		if len(x) > maxBytes {
			return soap.Value{}, tooLong(len(x))
		}
		return soap.Binary(x), ""
	}
	if val, problem, ok := number(v); ok {
		return val, problem
	}
	return soap.Value{}, "want a string, number, boolean, time, bytes or null, got " + describe(v)
}

// number converts any Go number (and json.Number) to an xs:decimal. ok is
// false when v is not a number; problem is set for a non-finite one.
func number(v any) (val soap.Value, problem string, ok bool) {
	switch x := v.(type) {
	case int:
		return soap.Int(int64(x)), "", true
	case int8:
		return soap.Int(int64(x)), "", true
	case int16:
		return soap.Int(int64(x)), "", true
	case int32:
		return soap.Int(int64(x)), "", true
	case int64:
		return soap.Int(x), "", true
	case uint:
		return soap.Decimal(strconv.FormatUint(uint64(x), 10)), "", true
	case uint8:
		return soap.Decimal(strconv.FormatUint(uint64(x), 10)), "", true
	case uint16:
		return soap.Decimal(strconv.FormatUint(uint64(x), 10)), "", true
	case uint32:
		return soap.Decimal(strconv.FormatUint(uint64(x), 10)), "", true
	case uint64:
		return soap.Decimal(strconv.FormatUint(x, 10)), "", true
	case float32:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return soap.Value{}, "not a finite number", true
		}
		// Format at 32-bit precision so that float32(0.1) stays "0.1".
		return soap.Decimal(strconv.FormatFloat(f, 'f', -1, 32)), "", true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return soap.Value{}, "not a finite number", true
		}
		return soap.Float(x), "", true
	case json.Number:
		// Keep the exact digits when they are already a decimal; an
		// exponent form ("1e3") goes through float64.
		if d, err := soap.ParseDecimal(string(x)); err == nil {
			return soap.Decimal(d), "", true
		}
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return soap.Value{}, "not a finite number", true
		}
		return soap.Float(f), "", true
	}
	return soap.Value{}, "", false
}

// want describes a value of the wrong type for a parameter of kind k.
func want(k soap.Kind, v any) string {
	return "want " + k.String() + ", got " + describe(v)
}

// describe names a value's type for a problem message and, for strings
// and bytes, their length; never the value, which may be a secret.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string of %d characters", utf8.RuneCountInString(x))
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case time.Time:
		return "a time"
	case []byte:
		return fmt.Sprintf("%d bytes", len(x))
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, _, ok := number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// checkText rejects strings that an XML document cannot carry: invalid
// UTF-8 and the characters XML 1.0 excludes (C0 controls other than tab,
// newline and carriage return, and U+FFFE/U+FFFF). Sending them would make
// the whole packet malformed, or be silently altered by the encoder. The
// problem says where, in characters, not which: the value may be a secret.
func checkText(s string) string {
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("not valid UTF-8 (at character %d)", n)
			}
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0xFFFE, r == 0xFFFF:
			return fmt.Sprintf("holds a character XML cannot carry (a control character, U+FFFE or U+FFFF) at character %d", n)
		}
	}
	return ""
}

// isUUID reports whether s has the form 8-4-4-4-12 of hexadecimal digits,
// in any case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ParseFieldErrors reads back the text FieldErrors.Error gives for one
// operation ("catalog: <op>: <Field>: <Problem>; <Field>: <Problem>"),
// as a result's error carries it, so that a client can tell the problems
// of each field without the worker sending them apart. ok is false when
// text is not of that form for op. The text is split at "; " and at the
// first ": " of each part: a field name (of an unknown field) that holds
// either is split wrongly, which no field a command should send does.
func ParseFieldErrors(op, text string) (es FieldErrors, ok bool) {
	rest, found := strings.CutPrefix(text, "catalog: "+op+": ")
	if !found || rest == "" {
		return nil, false
	}
	for part := range strings.SplitSeq(rest, "; ") {
		field, problem, found := strings.Cut(part, ": ")
		if !found || field == "" || problem == "" {
			return nil, false
		}
		es = append(es, FieldError{Op: op, Field: field, Problem: problem})
	}
	return es, true
}
