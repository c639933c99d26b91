package soap

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind says which XDTO type a Value holds.
type Kind uint8

// The kinds of XDTO value that PartnerWebAPI2 exchanges.
const (
	// KindNil is xsi:nil="true" (1C's Undefined or Null). It is the zero Kind.
	KindNil Kind = iota
	// KindString is xs:string; every identifier (UUID) of the API is a string.
	KindString
	// KindDecimal is xs:decimal, kept in its exact lexical form.
	KindDecimal
	// KindBoolean is xs:boolean.
	KindBoolean
	// KindDateTime is xs:dateTime without an offset: 2006-01-02T15:04:05.
	KindDateTime
	// KindDate is xs:date: 2006-01-02.
	KindDate
	// KindBinary is xs:base64Binary; Text holds the base64 form.
	KindBinary
	// KindStructure is the core Structure: named properties.
	KindStructure
	// KindTable is the core ValueTable: typed columns and positional rows.
	KindTable
	// KindOther is any other xsi:type; TypeName and Text keep what was received.
	KindOther
)

// String returns the XDTO type name of the kind.
func (k Kind) String() string {
	switch k {
	case KindNil:
		return "nil"
	case KindString:
		return "xs:string"
	case KindDecimal:
		return "xs:decimal"
	case KindBoolean:
		return "xs:boolean"
	case KindDateTime:
		return "xs:dateTime"
	case KindDate:
		return "xs:date"
	case KindBinary:
		return "xs:base64Binary"
	case KindStructure:
		return "Structure"
	case KindTable:
		return "ValueTable"
	case KindOther:
		return "other"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Layouts of the API's date and time values. The service writes times in the
// account's time zone without an offset.
const (
	DateTimeLayout = "2006-01-02T15:04:05"
	DateLayout     = "2006-01-02"
)

// Value is one XDTO value. Scalars keep their lexical form in Text, so that
// decimals stay exact and nothing is lost on the way through.
type Value struct {
	Kind Kind
	// Text is the lexical form of a scalar: "true"/"false" for booleans,
	// the digits of a decimal, DateTimeLayout or DateLayout for times, base64
	// for binary. Empty for nil, structures and tables.
	Text string
	// TypeName is the received xsi:type of a KindOther value.
	TypeName string
	// Props are the properties of a KindStructure value, in order.
	Props []Property
	// Table is the content of a KindTable value.
	Table *Table
	// Blob, on a KindBinary value, is its content, streamed into the
	// request by the Client in place of Text (see Stream). Decoded values
	// never have one.
	Blob Blob
}

// Property is one named member of a Structure.
type Property struct {
	Name  string
	Value Value
}

// Table is a ValueTable: columns first, then rows whose cells follow the
// columns by position.
type Table struct {
	Columns []Column
	Rows    [][]Value
}

// Column is one column of a ValueTable.
type Column struct {
	Name string
	Type ValueType
}

// ValueType is a column's declared type. An empty ValueType (no Types) means
// "any type": the service writes it as <ValueType/>.
type ValueType struct {
	// Types are the type names as written, e.g. "xs:string", "Null".
	Types  []string
	String *StringQualifiers
	Number *NumberQualifiers
	Date   *DateQualifiers
}

// StringQualifiers restrict a string column. Length 0 means unlimited.
type StringQualifiers struct {
	Length int
	Fixed  bool // AllowedLength Fixed rather than Variable
}

// NumberQualifiers restrict a decimal column. Digits 0 means unlimited.
type NumberQualifiers struct {
	Digits         int
	FractionDigits int
	Nonnegative    bool // AllowedSign Nonnegative rather than Any
}

// DateQualifiers restrict a date column: "Date", "Time" or "DateTime".
type DateQualifiers struct {
	Fractions string
}

// Null returns the nil value.
func Null() Value { return Value{} }

// String returns an xs:string value.
func String(s string) Value { return Value{Kind: KindString, Text: s} }

// Bool returns an xs:boolean value.
func Bool(b bool) Value { return Value{Kind: KindBoolean, Text: strconv.FormatBool(b)} }

// Int returns an xs:decimal value holding an integer.
func Int(n int64) Value { return Value{Kind: KindDecimal, Text: strconv.FormatInt(n, 10)} }

// Decimal returns an xs:decimal value from its lexical form. It does not
// check the form; see ParseDecimal for that.
func Decimal(text string) Value { return Value{Kind: KindDecimal, Text: text} }

// Float returns an xs:decimal value holding f in its shortest exact form.
// NaN and infinities have no decimal form; Float panics on them, so callers
// check first (catalogue validation does).
func Float(f float64) Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic("soap: Float of a non-finite number")
	}
	return Value{Kind: KindDecimal, Text: strconv.FormatFloat(f, 'f', -1, 64)}
}

// DateTime returns an xs:dateTime value of t's wall clock (the offset is
// dropped: the API reads times in the account's time zone).
func DateTime(t time.Time) Value {
	return Value{Kind: KindDateTime, Text: t.Format(DateTimeLayout)}
}

// Date returns an xs:date value of t's calendar day.
func Date(t time.Time) Value { return Value{Kind: KindDate, Text: t.Format(DateLayout)} }

// Binary returns an xs:base64Binary value holding b.
func Binary(b []byte) Value {
	return Value{Kind: KindBinary, Text: base64.StdEncoding.EncodeToString(b)}
}

// Struct returns a Structure value of the given properties.
func Struct(props ...Property) Value { return Value{Kind: KindStructure, Props: props} }

// TableValue returns a ValueTable value.
func TableValue(t *Table) Value { return Value{Kind: KindTable, Table: t} }

// IsNil reports whether v is nil.
func (v Value) IsNil() bool { return v.Kind == KindNil }

// Prop returns the value of the structure property named name.
func (v Value) Prop(name string) (Value, bool) {
	for _, p := range v.Props {
		if p.Name == name {
			return p.Value, true
		}
	}
	return Value{}, false
}

// BoolValue returns the value of an xs:boolean.
func (v Value) BoolValue() (bool, error) {
	if v.Kind != KindBoolean {
		return false, fmt.Errorf("soap: %s is not a boolean", v.Kind)
	}
	return strconv.ParseBool(v.Text)
}

// TimeValue parses an xs:dateTime or xs:date value in loc. A time that
// carries an offset (the service has been seen to accept one) is honoured.
func (v Value) TimeValue(loc *time.Location) (time.Time, error) {
	switch v.Kind {
	case KindDateTime, KindDate:
		return ParseTime(v.Text, loc)
	}
	return time.Time{}, fmt.Errorf("soap: %s is not a date or time", v.Kind)
}

// ParseTime reads the API's date and time forms: 2006-01-02,
// 2006-01-02T15:04:05 with optional fraction, and either with an offset.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{DateTimeLayout, DateLayout} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02Z07:00"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("soap: %q is not a date or time (want %s or %s)", s, DateLayout, DateTimeLayout)
}

// ParseDecimal checks that s is an xs:decimal lexical form: an optional
// sign, digits, an optional fraction. It returns s without surrounding space.
func ParseDecimal(s string) (string, error) {
	t := strings.TrimSpace(s)
	digits, dot := 0, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case (c == '-' || c == '+') && i == 0:
		default:
			return "", fmt.Errorf("soap: %q is not a decimal", s)
		}
	}
	if digits == 0 {
		return "", fmt.Errorf("soap: %q is not a decimal", s)
	}
	return t, nil
}

// Interface returns v as plain Go data, the form results are published in:
// nil; string for strings, times, binary and unknown types; bool; int64 for an
// integral decimal that fits, float64 for other decimals (the lexical string
// when it does not parse); map[string]any for a Structure; []map[string]any
// (one map per row, keyed by column name) for a ValueTable.
func (v Value) Interface() any {
	switch v.Kind {
	case KindNil:
		return nil
	case KindBoolean:
		b, err := strconv.ParseBool(v.Text)
		if err != nil {
			return v.Text
		}
		return b
	case KindDecimal:
		if n, err := strconv.ParseInt(v.Text, 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(v.Text, 64); err == nil {
			return f
		}
		return v.Text
	case KindStructure:
		m := make(map[string]any, len(v.Props))
		for _, p := range v.Props {
			m[p.Name] = p.Value.Interface()
		}
		return m
	case KindTable:
		if v.Table == nil {
			return []map[string]any{}
		}
		return v.Table.Maps()
	}
	return v.Text
}

// Maps returns the rows of t as maps keyed by column name. A row shorter
// than the column list leaves the missing columns out; cells beyond the
// column list are dropped.
func (t *Table) Maps() []map[string]any {
	out := make([]map[string]any, len(t.Rows))
	for i, row := range t.Rows {
		m := make(map[string]any, len(t.Columns))
		for j, c := range t.Columns {
			if j < len(row) {
				m[c.Name] = row[j].Interface()
			}
		}
		out[i] = m
	}
	return out
}

// Column returns the index of the column named name, or -1.
func (t *Table) Column(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Cell returns row i's value in the column named name.
func (t *Table) Cell(i int, name string) (Value, bool) {
	j := t.Column(name)
	if j < 0 || i < 0 || i >= len(t.Rows) || j >= len(t.Rows[i]) {
		return Value{}, false
	}
	return t.Rows[i][j], true
}

// TypeOf returns the ValueType a column holding values of kind k is
// declared with when this package encodes a packet: the form 1C itself
// writes (strings unlimited and variable, decimals unqualified, dates as
// xs:dateTime with DateQualifiers).
func TypeOf(k Kind) ValueType {
	switch k {
	case KindString:
		return ValueType{Types: []string{"xs:string"}, String: &StringQualifiers{}}
	case KindDecimal:
		return ValueType{Types: []string{"xs:decimal"}, Number: &NumberQualifiers{}}
	case KindBoolean:
		return ValueType{Types: []string{"xs:boolean"}}
	case KindDateTime:
		return ValueType{Types: []string{"xs:dateTime"}, Date: &DateQualifiers{Fractions: "DateTime"}}
	case KindDate:
		return ValueType{Types: []string{"xs:dateTime"}, Date: &DateQualifiers{Fractions: "Date"}}
	case KindBinary:
		return ValueType{Types: []string{"xs:base64Binary"}}
	}
	return ValueType{}
}
