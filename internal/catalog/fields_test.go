package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

const (
	uuid1 = "0a29b1a9-26ef-11e8-80e6-0025904f970f"
	uuid2 = "9254945C-8135-11E9-80F6-0025904F970F" // upper case is a UUID too
)

// bundle is what a Fields test needs: an operation with one parameter of
// every type, and a clock value in a zone with an offset.
type bundle struct {
	types *Operation
	when  time.Time
}

func setup(t *testing.T) bundle {
	t.Helper()
	return bundle{
		types: &Operation{
			Name: "Types", Kind: Read, Object: "Test", ParamsKnown: true,
			DayLimit: 1, NightLimit: 1, MaxRows: 1, Repeatable: true,
			Params: []Param{
				{Name: "S", Type: soap.KindString, MaxLen: 5},
				{Name: "ID", Type: soap.KindString, ID: true},
				{Name: "N", Type: soap.KindDecimal},
				{Name: "B", Type: soap.KindBoolean},
				{Name: "DT", Type: soap.KindDateTime},
				{Name: "D", Type: soap.KindDate},
				{Name: "Bin", Type: soap.KindBinary},
			},
		},
		when: time.Date(2024, 2, 26, 23, 30, 5, 0, time.FixedZone("MSK", 3*3600)),
	}
}

func mustLookup(t *testing.T, name string) *Operation {
	t.Helper()
	op, ok := Lookup(name)
	require.True(t, ok, name)
	return op
}

// prop builds an expected property.
func prop(name string, v soap.Value) soap.Property { return soap.Property{Name: name, Value: v} }

// TestFieldsTypes covers the conversion rules of each parameter type with
// one field per case, on the synthetic operation.
func TestFieldsTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name    string
		field   string
		value   any
		want    soap.Value // when problem is empty
		problem string
	}{
		// xs:string
		{name: "string", field: "S", value: "abc", want: soap.String("abc")},
		{name: "string length counts runes not bytes", field: "S", value: "ЯЯЯЯЯ", want: soap.String("ЯЯЯЯЯ")},
		{name: "string too long", field: "S", value: "ЯЯЯЯЯЯ", problem: "longer than 5 characters (got 6)"},
		{name: "string from JSON number rejected", field: "S", value: float64(42), problem: "want xs:string, got a number"},
		{name: "string from json.Number rejected", field: "S", value: json.Number("7"), problem: "want xs:string, got a number"},
		{name: "string from int rejected", field: "S", value: int64(42), problem: "want xs:string, got a number"},
		{name: "string from bool rejected", field: "S", value: true, problem: "want xs:string, got a boolean"},
		{name: "string from object rejected", field: "S", value: map[string]any{"a": 1}, problem: "want xs:string, got an object"},
		{name: "string from array rejected", field: "S", value: []any{"a"}, problem: "want xs:string, got an array"},
		{name: "string invalid UTF-8", field: "S", value: "a\xffb", problem: "not valid UTF-8 (at character 2)"},
		{name: "string control character", field: "S", value: "a\x01b", problem: "holds a character XML cannot carry (a control character, U+FFFE or U+FFFF) at character 2"},
		{name: "string tab and newline allowed", field: "S", value: "a\tb\n", want: soap.String("a\tb\n")},
		// identifiers
		{name: "UUID lower", field: "ID", value: uuid1, want: soap.String(uuid1)},
		{name: "UUID upper", field: "ID", value: uuid2, want: soap.String(uuid2)},
		{name: "UUID bad hex", field: "ID", value: "xa29b1a9-26ef-11e8-80e6-x025904f970x", problem: "not a UUID"},
		{name: "UUID no dashes", field: "ID", value: "0a29b1a926ef11e880e60025904f970f", problem: "not a UUID"},
		{name: "UUID braces", field: "ID", value: "{" + uuid1 + "}", problem: "not a UUID"},
		{name: "UUID empty", field: "ID", value: "", problem: "not a UUID"},
		// xs:decimal
		{name: "decimal from float64", field: "N", value: 12.5, want: soap.Decimal("12.5")},
		{name: "decimal from large float64 has no exponent", field: "N", value: 1e21, want: soap.Decimal("1000000000000000000000")},
		{name: "decimal from string", field: "N", value: " -3.25 ", want: soap.Decimal("-3.25")},
		{name: "decimal from bad string", field: "N", value: "abc", problem: "want xs:decimal, got a string of 3 characters"},
		{name: "decimal from json.Number keeps digits", field: "N", value: json.Number("12.50"), want: soap.Decimal("12.50")},
		{name: "decimal from json.Number exponent", field: "N", value: json.Number("1e3"), want: soap.Decimal("1000")},
		{name: "decimal NaN", field: "N", value: math.NaN(), problem: "not a finite number"},
		{name: "decimal +Inf", field: "N", value: math.Inf(1), problem: "not a finite number"},
		{name: "decimal float32 NaN", field: "N", value: float32(math.NaN()), problem: "not a finite number"},
		{name: "decimal from bool rejected", field: "N", value: false, problem: "want xs:decimal, got a boolean"},
		// msgpack widths
		{name: "msgpack int8", field: "N", value: int8(-3), want: soap.Decimal("-3")},
		{name: "msgpack int16", field: "N", value: int16(300), want: soap.Decimal("300")},
		{name: "msgpack int32", field: "N", value: int32(-70000), want: soap.Decimal("-70000")},
		{name: "msgpack int", field: "N", value: 7, want: soap.Decimal("7")},
		{name: "msgpack uint8", field: "N", value: uint8(255), want: soap.Decimal("255")},
		{name: "msgpack uint16", field: "N", value: uint16(65535), want: soap.Decimal("65535")},
		{name: "msgpack uint32", field: "N", value: uint32(4294967295), want: soap.Decimal("4294967295")},
		{name: "msgpack uint", field: "N", value: uint(9), want: soap.Decimal("9")},
		{name: "msgpack uint64 max", field: "N", value: uint64(math.MaxUint64), want: soap.Decimal("18446744073709551615")},
		{name: "msgpack int64 min", field: "N", value: int64(math.MinInt64), want: soap.Decimal("-9223372036854775808")},
		{name: "msgpack float32 short form", field: "N", value: float32(0.1), want: soap.Decimal("0.1")},
		// xs:boolean
		{name: "boolean", field: "B", value: true, want: soap.Bool(true)},
		{name: "boolean from string true", field: "B", value: "true", want: soap.Bool(true)},
		{name: "boolean from string false", field: "B", value: "false", want: soap.Bool(false)},
		{name: "boolean from other string", field: "B", value: "yes", problem: "want xs:boolean, got a string of 3 characters"},
		{name: "boolean from number", field: "B", value: float64(1), problem: "want xs:boolean, got a number"},
		// xs:dateTime
		{name: "dateTime from date string", field: "DT", value: "2024-02-26", want: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T00:00:00"}},
		{name: "dateTime from local string", field: "DT", value: "2024-02-26T09:07:42", want: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T09:07:42"}},
		{name: "dateTime from RFC 3339 keeps wall clock", field: "DT", value: "2024-02-26T09:07:42+03:00", want: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T09:07:42"}},
		{name: "dateTime from RFC 3339 UTC", field: "DT", value: "2024-02-26T09:07:42Z", want: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T09:07:42"}},
		{name: "dateTime from time.Time", field: "DT", value: b.when, want: soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T23:30:05"}},
		{name: "dateTime bad string", field: "DT", value: "26.02.2024", problem: "not a date and time (want 2006-01-02T15:04:05)"},
		{name: "dateTime from number", field: "DT", value: float64(1708930062), problem: "want xs:dateTime, got a number"},
		// xs:date
		{name: "date", field: "D", value: "1990-05-17", want: soap.Value{Kind: soap.KindDate, Text: "1990-05-17"}},
		{name: "date from dateTime string", field: "D", value: "1990-05-17T10:00:00", want: soap.Value{Kind: soap.KindDate, Text: "1990-05-17"}},
		{name: "date from RFC 3339 keeps its day", field: "D", value: "1990-05-17T23:30:00+03:00", want: soap.Value{Kind: soap.KindDate, Text: "1990-05-17"}},
		{name: "date from time.Time uses its calendar day", field: "D", value: b.when, want: soap.Value{Kind: soap.KindDate, Text: "2024-02-26"}},
		{name: "date bad string", field: "D", value: "17.05.1990", problem: "not a date (want 2006-01-02)"},
		{name: "date impossible day", field: "D", value: "1990-02-30", problem: "not a date (want 2006-01-02)"},
		// xs:base64Binary
		{name: "binary from bytes", field: "Bin", value: []byte("hi!"), want: soap.Value{Kind: soap.KindBinary, Text: "aGkh"}},
		{name: "binary from base64 string", field: "Bin", value: "aGkh", want: soap.Value{Kind: soap.KindBinary, Text: "aGkh"}},
		{name: "binary from bad base64", field: "Bin", value: "aGk!", problem: "not base64 (want standard base64 with padding)"},
		{name: "binary from URL base64", field: "Bin", value: "-_8=", problem: "not base64 (want standard base64 with padding)"},
		{name: "binary from number", field: "Bin", value: 5, problem: "want xs:base64Binary, got a number"},
		// nulls of optional parameters are sent as nil
		{name: "null optional", field: "S", value: nil, want: soap.Null()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.types.Fields(map[string]any{tt.field: tt.value})
			if tt.problem != "" {
				require.Nil(t, got)
				require.Equal(t, FieldErrors{{Op: "Types", Field: tt.field, Problem: tt.problem}}, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []soap.Property{prop(tt.field, tt.want)}, got)
		})
	}
}

// badName is the problem of a field whose name is not valid.
const badName = "not a valid name (want letters, digits, '_', '-' or '.', starting with a letter or '_', such as ClientID)"

// TestFieldsOperations covers the rules that depend on the operation:
// required and unknown fields, keys, order and fields typed by value.
func TestFieldsOperations(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name   string
		op     string
		fields map[string]any
		want   []soap.Property
		errs   FieldErrors // Op is filled in from op
	}{
		{
			name: "ClientUserEdit from JSON, out in catalogue order",
			op:   "ClientUserEdit",
			fields: map[string]any{
				"EMail": "ivanov@example.com", "Phone": "+7 900 000-00-00, +7 901 000-00-00",
				"Password": "secret", "Name": "Иван", "ClientUserID": uuid1,
				"Birthday": "1990-05-17", "DepartmentID": nil,
			},
			want: []soap.Property{
				prop("ClientUserID", soap.String(uuid1)),
				prop("Name", soap.String("Иван")),
				prop("Password", soap.String("secret")),
				prop("Birthday", soap.Value{Kind: soap.KindDate, Text: "1990-05-17"}),
				prop("DepartmentID", soap.Null()),
				prop("Phone", soap.String("+7 900 000-00-00, +7 901 000-00-00")),
				prop("EMail", soap.String("ivanov@example.com")),
			},
		},
		{
			name:   "required field missing",
			op:     "ServiceKindDelete",
			fields: map[string]any{},
			errs:   FieldErrors{{Field: "ServiceKindID", Problem: "required"}},
		},
		{
			name:   "required field null",
			op:     "ServiceKindDelete",
			fields: map[string]any{"ServiceKindID": nil},
			errs:   FieldErrors{{Field: "ServiceKindID", Problem: "required"}},
		},
		{
			name:   "nil map is no fields",
			op:     "ServiceRequestTypeDelete",
			fields: nil,
			errs:   FieldErrors{{Field: "ServiceRequestTypeID", Problem: "required"}},
		},
		{
			name:   "unknown field on known params",
			op:     "ServiceKindDelete",
			fields: map[string]any{"ServiceKindID": uuid1, "Force": true},
			errs:   FieldErrors{{Field: "Force", Problem: "unknown field"}},
		},
		{
			name:   "unknown field differing in case names the parameter",
			op:     "ServiceKindDelete",
			fields: map[string]any{"serviceKindID": uuid1},
			errs: FieldErrors{
				{Field: "ServiceKindID", Problem: "required"},
				{Field: "serviceKindID", Problem: "unknown field (did you mean ServiceKindID?)"},
			},
		},
		{
			name:   "key of a BatchWrite with unpublished params is required",
			op:     "ClientEdit",
			fields: map[string]any{"Name": "ООО Ромашка"},
			errs:   FieldErrors{{Field: "ClientID", Problem: "required"}},
		},
		{
			name:   "key of a BatchWrite with unpublished params is validated",
			op:     "ClientEdit",
			fields: map[string]any{"ClientID": "42"},
			errs:   FieldErrors{{Field: "ClientID", Problem: "not a UUID"}},
		},
		{
			name:   "every key field of a pair is required",
			op:     "ClientAdditionalParameterValueEdit",
			fields: map[string]any{"ClientID": uuid1, "Value": "Значение1", "Color": "RED"},
			errs:   FieldErrors{{Field: "ClientParameterID", Problem: "required"}},
		},
		{
			name: "unpublished params typed by value, sorted after known ones",
			op:   "ClientEdit",
			fields: map[string]any{
				"Name": "ООО Ромашка", "INN": json.Number("7700000000"), "Active": true,
				"Created": b.when, "Logo": []byte{0xff}, "Note": nil, "Score": uint16(3),
				"ClientID": uuid2, "Ratio": float32(0.5), "Ёлка_1.a-b": "ok",
			},
			want: []soap.Property{
				prop("ClientID", soap.String(uuid2)),
				prop("Active", soap.Bool(true)),
				prop("Created", soap.Value{Kind: soap.KindDateTime, Text: "2024-02-26T23:30:05"}),
				prop("INN", soap.Decimal("7700000000")),
				prop("Logo", soap.Value{Kind: soap.KindBinary, Text: "/w=="}),
				prop("Name", soap.String("ООО Ромашка")),
				prop("Note", soap.Null()),
				prop("Ratio", soap.Decimal("0.5")),
				prop("Score", soap.Decimal("3")),
				prop("Ёлка_1.a-b", soap.String("ok")),
			},
		},
		{
			name: "unpublished params: bad names and values named",
			op:   "ClientAdd",
			fields: map[string]any{
				"Bad name": "x", "1st": "x", "ns:Name": "x", "": "x",
				"Nested": map[string]any{"a": 1}, "List": []any{1}, "Inf": math.Inf(-1),
				"Ptr": new(int), "Ctl": "\x00",
			},
			errs: FieldErrors{
				{Field: "", Problem: badName},
				{Field: "1st", Problem: badName},
				{Field: "Bad name", Problem: badName},
				{Field: "Ctl", Problem: "holds a character XML cannot carry (a control character, U+FFFE or U+FFFF) at character 1"},
				{Field: "Inf", Problem: "not a finite number"},
				{Field: "List", Problem: "want a string, number, boolean, time, bytes or null, got an array"},
				{Field: "Nested", Problem: "want a string, number, boolean, time, bytes or null, got an object"},
				{Field: "Ptr", Problem: "want a string, number, boolean, time, bytes or null, got *int"},
				{Field: "ns:Name", Problem: badName},
			},
		},
		{
			name:   "unpublished params and no fields",
			op:     "RegionRead",
			fields: map[string]any{},
			want:   []soap.Property{},
		},
		{
			name:   "ChangeRead ChangedFrom typed even though params are unpublished",
			op:     "ClientRead",
			fields: map[string]any{"ChangedFrom": "2020-12-01T00:00:00Z", "Extra": "x"},
			want: []soap.Property{
				prop("ChangedFrom", soap.Value{Kind: soap.KindDateTime, Text: "2020-12-01T00:00:00"}),
				prop("Extra", soap.String("x")),
			},
		},
		{
			name: "plain children in WSDL order",
			op:   "ServiceRequestAttachFile",
			fields: map[string]any{
				"Data": []byte("%PDF"), "Hash": "d41d8cd98f00b204e9800998ecf8427e", "Name": "act.pdf",
				"AuthorID": uuid1, "ServiceRequestID": "000123",
			},
			want: []soap.Property{
				prop("ServiceRequestID", soap.String("000123")),
				prop("AuthorID", soap.String(uuid1)),
				prop("Name", soap.String("act.pdf")),
				prop("Hash", soap.String("d41d8cd98f00b204e9800998ecf8427e")),
				prop("Data", soap.Value{Kind: soap.KindBinary, Text: "JVBERg=="}),
			},
		},
		{
			name:   "plain children all required",
			op:     "ServiceRequestEditTextMessage",
			fields: map[string]any{"ServiceRequestID": "000123", "Message": nil},
			errs: FieldErrors{
				{Field: "Message", Problem: "required"},
				{Field: "MessageID", Problem: "required"},
			},
		},
		{
			name: "ServiceRequestAdd with msgpack values",
			op:   "ServiceRequestAdd",
			fields: map[string]any{
				"Duration": uint64(3600), "Summary": strings.Repeat("ж", 1000), "Priority": "HIGH",
				"ServiceKindID": uuid1,
			},
			want: []soap.Property{
				prop("ServiceKindID", soap.String(uuid1)),
				prop("Duration", soap.Decimal("3600")),
				prop("Summary", soap.String(strings.Repeat("ж", 1000))),
				prop("Priority", soap.String("HIGH")),
			},
		},
		{
			name: "every problem reported at once",
			op:   "ClientUserEdit",
			fields: map[string]any{
				"ClientUserID": "not-a-uuid",
				"Surname":      strings.Repeat("Ы", 23),
				"Password":     float64(1234),
				"Birthday":     "17.05.1990",
				"Phone":        []any{"+7 900"},
				"Nickname":     "Ваня",
				"Post":         nil,
			},
			errs: FieldErrors{
				{Field: "Birthday", Problem: "not a date (want 2006-01-02)"},
				{Field: "ClientUserID", Problem: "not a UUID"},
				{Field: "EMail", Problem: "required"},
				{Field: "Name", Problem: "required"},
				{Field: "Nickname", Problem: "unknown field"},
				{Field: "Password", Problem: "want xs:string, got a number"},
				{Field: "Phone", Problem: "want xs:string, got an array"},
				{Field: "Surname", Problem: "longer than 20 characters (got 23)"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := mustLookup(t, tt.op)
			got, err := op.Fields(tt.fields)
			if tt.errs != nil {
				require.Nil(t, got)
				for i := range tt.errs {
					tt.errs[i].Op = tt.op
				}
				var fe FieldErrors
				require.ErrorAs(t, err, &fe)
				require.Equal(t, tt.errs, fe)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestFieldsDeterministic runs the same command many times: map iteration
// order must never show in the output.
func TestFieldsDeterministic(t *testing.T) {
	t.Parallel()
	op := mustLookup(t, "ClientAdd")
	fields := map[string]any{}
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		fields["F"+string(c)] = string(c)
	}
	first, err := op.Fields(fields)
	require.NoError(t, err)
	for range 50 {
		again, err := op.Fields(fields)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
}

func TestFieldErrorsError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		errs FieldErrors
		want string
	}{
		{
			name: "one operation",
			errs: FieldErrors{
				{Op: "ClientUserEdit", Field: "Name", Problem: "required"},
				{Op: "ClientUserEdit", Field: "Phone", Problem: "longer than 320 characters (got 400)"},
			},
			want: "catalog: ClientUserEdit: Name: required; Phone: longer than 320 characters (got 400)",
		},
		{
			name: "merged operations",
			errs: FieldErrors{
				{Op: "ClientEdit", Field: "ClientID", Problem: "required"},
				{Op: "ClientDelete", Field: "ClientID", Problem: "not a UUID"},
			},
			want: "catalog: ClientEdit: ClientID: required; ClientDelete: ClientID: not a UUID",
		},
		{name: "empty", errs: FieldErrors{}, want: "catalog: no field errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.EqualError(t, tt.errs, tt.want)
		})
	}
}

// TestFieldErrorsAs checks that a caller can branch on the whole list or
// on one problem.
func TestFieldErrorsAs(t *testing.T) {
	t.Parallel()
	_, err := mustLookup(t, "ServiceKindDelete").Fields(map[string]any{"ServiceKindID": "x"})
	require.EqualError(t, err, "catalog: ServiceKindDelete: ServiceKindID: not a UUID")

	var one FieldError
	require.True(t, errors.As(err, &one))
	require.Equal(t, FieldError{Op: "ServiceKindDelete", Field: "ServiceKindID", Problem: "not a UUID"}, one)
	require.EqualError(t, one, "catalog: ServiceKindDelete: ServiceKindID: not a UUID")
}

// BenchmarkFields measures the common path: a full ClientUserEdit row as
// decoded from JSON.
func BenchmarkFields(b *testing.B) {
	op, ok := Lookup("ClientUserEdit")
	require.True(b, ok)
	fields := map[string]any{
		"ClientUserID": uuid1, "Name": "Иван", "Surname": "Иванов", "SecondaryName": "Иванович",
		"Password": "secret", "Birthday": "1990-05-17", "Post": "Бухгалтер", "DepartmentID": uuid2,
		"Phone": "+7 900 000-00-00", "EMail": "ivanov@example.com",
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.Fields(fields); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProblemsNeverQuoteValues gives secrets of the wrong type, too long,
// or with characters XML cannot carry: no error may show them, whole or in
// part, only their type and length.
func TestProblemsNeverQuoteValues(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-XYZ-very-secret"
	values := []any{
		secret,                       // too long for ClientUserEdit (10)
		json.Number("1234567890123"), // a number where a string belongs
		float64(987654321),
		true,
		secret[:5] + "\x01" + secret[5:9],
		secret[:5] + "\xff" + secret[5:9],
		[]byte(secret),
		time.Date(2031, 7, 9, 8, 7, 6, 0, time.UTC),
		map[string]any{secret: secret},
		[]any{secret},
	}
	for _, opName := range []string{"ClientUserEdit", "SpecialistAdd", "SpecialistEdit"} {
		op := mustLookup(t, opName)
		require.True(t, op.IsSecret("Password"), opName)
		for i, v := range values {
			t.Run(fmt.Sprintf("%s/%d", opName, i), func(t *testing.T) {
				t.Parallel()
				_, err := op.Fields(map[string]any{"Password": v})
				var fe FieldErrors
				errors.As(err, &fe)
				var problem string
				for _, e := range fe {
					if e.Field == "Password" {
						problem = e.Problem
					}
				}
				if s, ok := v.(string); ok && s == secret && opName != "ClientUserEdit" {
					require.Empty(t, problem, "a long string is a fine password where no length is declared")
					return
				}
				require.NotEmpty(t, problem, "%#v", v)
				for _, shown := range []string{secret[:4], "1234", "9876", "true", "2031", "hunt"} {
					require.NotContains(t, err.Error(), shown)
				}
			})
		}
	}
	// The same holds for fields passed through by value.
	_, err := mustLookup(t, "ClientUserAdd").Fields(map[string]any{"Password": map[string]any{"k": secret}, "Token": secret + "\x00"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunt")
}

func TestIsSecret(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op, field string
		secret    bool
	}{
		{"ClientUserEdit", "Password", true},
		{"ClientUserEdit", "Name", false},
		{"ClientUserEdit", "password", false}, // not a parameter: refused, never sent
		{"SpecialistAdd", "Password", true},
		{"SpecialistEdit", "Password", true},
		{"SpecialistEdit", "Phone", false},
		// Passed through by value: the name decides.
		{"ClientUserAdd", "Password", true},
		{"ClientUserAdd", "UserPassword", true},
		{"ClientUserAdd", "Passwd", true},
		{"ClientUserAdd", "APIToken", true},
		{"ClientUserAdd", "ClientSecret", true},
		{"ClientUserAdd", "Name", false},
		{"ClientUserAdd", "Pass", false},
	}
	for _, tc := range cases {
		t.Run(tc.op+"/"+tc.field, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.secret, mustLookup(t, tc.op).IsSecret(tc.field))
		})
	}
}

// TestFieldsUnknownCap: a field no parameter declares may not carry more
// than FieldLimits.MaxUnknownBytes; declared ones are bound by their
// declaration only.
func TestFieldsUnknownCap(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("ж", DefaultMaxUnknownBytes/2) // exactly the default, in bytes
	cases := []struct {
		name    string
		op      string
		lim     FieldLimits
		value   any
		problem string
	}{
		{name: "string at the default", op: "ClientAdd", value: big},
		{name: "string over the default", op: "ClientAdd", value: big + "x", problem: "longer than 65536 bytes (got 65537)"},
		{name: "bytes at the default", op: "ClientAdd", value: make([]byte, DefaultMaxUnknownBytes)},
		{name: "bytes over the default", op: "ClientAdd", value: make([]byte, DefaultMaxUnknownBytes+1), problem: "longer than 65536 bytes (got 65537)"},
		{name: "digits over the default", op: "ClientAdd", value: json.Number(strings.Repeat("9", DefaultMaxUnknownBytes+1)), problem: "longer than 65536 bytes (got 65537)"},
		{name: "string at a given cap", op: "ClientAdd", lim: FieldLimits{MaxUnknownBytes: 4}, value: "abcd"},
		{name: "string over a given cap", op: "ClientAdd", lim: FieldLimits{MaxUnknownBytes: 4}, value: "abcde", problem: "longer than 4 bytes (got 5)"},
		{name: "cap counts bytes", op: "ClientAdd", lim: FieldLimits{MaxUnknownBytes: 4}, value: "жжж", problem: "longer than 4 bytes (got 6)"},
		{name: "numbers and booleans are short", op: "ClientAdd", lim: FieldLimits{MaxUnknownBytes: 1}, value: int64(123456)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			props, err := mustLookup(t, tc.op).FieldsWithin(map[string]any{"Note": tc.value}, tc.lim)
			if tc.problem == "" {
				require.NoError(t, err)
				require.Len(t, props, 1)
				return
			}
			require.Equal(t, FieldErrors{{Op: tc.op, Field: "Note", Problem: tc.problem}}, err)
		})
	}
	// A declared parameter is not capped: file data travels in Data.
	data := make([]byte, 4*DefaultMaxUnknownBytes)
	props, err := mustLookup(t, "ServiceRequestAttachFile").FieldsWithin(map[string]any{
		"ServiceRequestID": "000123", "AuthorID": uuid1, "Name": "a.bin", "Hash": "x", "Data": data,
	}, FieldLimits{MaxUnknownBytes: 10})
	require.NoError(t, err)
	require.Equal(t, soap.Binary(data), props[4].Value)
}

// TestAcceptedNamesEncode: every name the catalogue accepts for a field
// passed through by value can be encoded, as a Structure property and as
// a packet's column, and reads back unchanged; every name it refuses, the
// encoder refuses too. Candidates: each character of the alphabets up to
// U+0800 and of the spaces and punctuation U+1680–U+206F, and a sample of
// the rest, first and last in a name.
func TestAcceptedNamesEncode(t *testing.T) {
	t.Parallel()
	op := mustLookup(t, "ClientAdd")
	candidates := []string{"Имя", "ИмяПользователя_2", "Ёлка_1.a-b", "Name", "1st", "a b", "ns:Name", ""}
	for r := rune(0x80); r <= 0x10FFFF; r++ {
		if r < 0x800 || r >= 0x1680 && r <= 0x206F || r <= 0xFFFF && r%37 == 0 || r%997 == 0 {
			candidates = append(candidates, string(r)+"a", "a"+string(r))
		}
	}
	var props []soap.Property
	for _, name := range candidates {
		got, err := op.Fields(map[string]any{name: "v"})
		encodeErr := soap.EncodeRequest(io.Discard, soap.SOAP11, &soap.Request{Op: op.Name, Params: soap.Struct(soap.Property{Name: name, Value: soap.String("v")})})
		if err != nil {
			require.Error(t, encodeErr, "the catalogue refuses %q, the encoder takes it", name)
			continue
		}
		require.NoError(t, encodeErr, "the catalogue takes %q, the encoder refuses it", name)
		props = append(props, got...)
	}
	require.Greater(t, len(props), 10_000)
	for len(props) > 0 {
		chunk := props[:min(len(props), 40_000)]
		props = props[len(chunk):]
		cols := make([]soap.Column, len(chunk))
		row := make([]soap.Value, len(chunk))
		for i, p := range chunk {
			cols[i], row[i] = soap.Column{Name: p.Name, Type: soap.TypeOf(p.Value.Kind)}, p.Value
		}
		for _, params := range []soap.Value{soap.Struct(chunk...), soap.TableValue(&soap.Table{Columns: cols, Rows: [][]soap.Value{row}})} {
			var b bytes.Buffer
			require.NoError(t, soap.EncodeRequest(&b, soap.SOAP12, &soap.Request{Op: op.Name, Params: params}))
			_, back, err := soap.DecodeRequest(&b, soap.Limits{})
			require.NoError(t, err)
			require.Equal(t, params, back.Params)
		}
	}
}

// TestFieldsObjectReferences: with FieldLimits.Objects, a binary parameter
// (and a field of an operation whose parameters are not published) may be
// a reference to a stored object; a text parameter may not, and without
// Objects no field may.
func TestFieldsObjectReferences(t *testing.T) {
	t.Parallel()
	ref := map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES", "name": "a.pdf"}}
	streamed := soap.Value{Kind: soap.KindBinary, Text: "streamed"}
	objects := func(v any) (soap.Value, string, bool) {
		m := v.(map[string]any)
		if _, ok := m["$object"]; !ok {
			return soap.Value{}, "", false
		}
		if _, ok := m["$object"].(map[string]any)["name"]; !ok {
			return soap.Value{}, "malformed object reference: name is required", true
		}
		return streamed, "", true
	}
	attach, _ := Lookup("ServiceRequestAttachFile")
	fields := map[string]any{"ServiceRequestID": "00000000-0000-4000-8000-000000000001", "AuthorID": "00000000-0000-4000-8000-000000000002",
		"Name": "a.pdf", "Hash": "x", "Data": ref}
	props, err := attach.FieldsWithin(fields, FieldLimits{Objects: objects})
	require.NoError(t, err)
	var data soap.Value
	for _, p := range props {
		if p.Name == "Data" {
			data = p.Value
		}
	}
	require.Equal(t, streamed, data)

	_, err = attach.FieldsWithin(fields, FieldLimits{})
	require.ErrorContains(t, err, "Data", "without Objects a reference is refused")

	bad := maps.Clone(fields)
	bad["Data"] = map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES"}}
	_, err = attach.FieldsWithin(bad, FieldLimits{Objects: objects})
	require.ErrorContains(t, err, "Data: malformed object reference: name is required")

	text := maps.Clone(fields)
	text["Name"] = ref
	_, err = attach.FieldsWithin(text, FieldLimits{Objects: objects})
	require.ErrorContains(t, err, "Name", "a text parameter takes no reference")
}
