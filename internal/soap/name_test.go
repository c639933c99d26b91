package soap_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"ClientUserID", true},
		{"_x", true},
		{"a1.b-c_d", true},
		{"Имя", true},
		{"ИмяПользователя_2", true},
		{"Ёлка_1.a-b", true},
		{"é", true},
		{"a\u0301", true}, // a combining mark after the first character
		{"a·b", true},     // U+00B7 after the first character
		{"漢字", true},
		{strings.Repeat("n", soap.MaxNameBytes), true},
		{strings.Repeat("я", soap.MaxNameBytes/2), true},

		{"", false},
		{strings.Repeat("n", soap.MaxNameBytes+1), false},
		{"1st", false},
		{"-a", false},
		{".a", false},
		{"\u0301a", false}, // a combining mark cannot start a name
		{"·a", false},
		{"a b", false},
		{"ns:Name", false},
		{"a\"b", false},
		{"a<b", false},
		{"a\x00", false},
		{"a\xff", false},       // invalid UTF-8
		{"\xef\xbf\xbd", true}, // U+FFFD itself is in a name range
		{"a×b", false},         // U+00D7 is excluded
		{"a\u2028", false},     // a line separator
		{"a\uFFFE", false},
		{"a\uE000", false}, // private use
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.ok, soap.ValidName(tc.name), "%q", tc.name)
		})
	}
}

// TestValidNamesRoundTrip encodes, for every character a name may hold up
// to U+3000 (the alphabets, and every kind of space and punctuation) and a
// sample of the rest, a name starting with it and one ending with it, as a
// Structure property and as a ValueTable column, the two places a field's
// name goes, and decodes them back unchanged; and checks that Latin and
// Cyrillic names round-trip as plain children, which are element names.
func TestValidNamesRoundTrip(t *testing.T) {
	t.Parallel()
	var names []string
	for r := rune(0x80); r <= 0x10FFFF; r++ {
		if r > 0x3000 && r%211 != 0 {
			continue
		}
		if !utf8.ValidRune(r) {
			continue
		}
		for _, n := range []string{string(r) + "a", "a" + string(r)} {
			if soap.ValidName(n) {
				names = append(names, n)
			}
		}
	}
	require.Greater(t, len(names), 20_000, "the rule accepts the letters of every script")
	// In chunks, so that no message is larger than the decoder's default
	// value count allows.
	for len(names) > 0 {
		chunk := names[:min(len(names), 40_000)]
		names = names[len(chunk):]
		props := make([]soap.Property, len(chunk))
		cols := make([]soap.Column, len(chunk))
		for i, n := range chunk {
			props[i] = soap.Property{Name: n, Value: soap.String("v")}
			cols[i] = soap.Column{Name: n}
		}
		for _, params := range []soap.Value{soap.Struct(props...), soap.TableValue(&soap.Table{Columns: cols})} {
			var b bytes.Buffer
			require.NoError(t, soap.EncodeRequest(&b, soap.SOAP11, &soap.Request{Op: "ClientAdd", Params: params}))
			_, back, err := soap.DecodeRequest(&b, soap.Limits{})
			require.NoError(t, err)
			if params.Kind == soap.KindStructure {
				require.Equal(t, props, back.Params.Props)
			} else {
				require.Equal(t, cols, back.Params.Table.Columns)
			}
		}
	}
	children := []soap.Property{
		{Name: "ServiceRequestID", Value: soap.String("1")},
		{Name: "Имя", Value: soap.String("Анна")},
		{Name: "Ёлка_1.a-b", Value: soap.String("x")},
	}
	var b bytes.Buffer
	require.NoError(t, soap.EncodeRequest(&b, soap.SOAP12, &soap.Request{Op: "Операция", Children: children}))
	_, back, err := soap.DecodeRequest(&b, soap.Limits{})
	require.NoError(t, err)
	require.Equal(t, "Операция", back.Op)
	require.Equal(t, children, back.Children)
}
