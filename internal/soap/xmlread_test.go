package soap

import (
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readAll reads every token of in, from memory and from a reader that
// returns one byte at a time; both must agree. It returns the tokens as
// text, for comparison.
func readAll(t *testing.T, in string, lim Limits) ([]string, error) {
	t.Helper()
	lim = lim.withDefaults()
	read := func(z *reader) ([]string, error) {
		var out []string
		for {
			tok, err := z.next()
			if err != nil {
				return out, err
			}
			switch tok.kind {
			case tokEOF:
				return out, nil
			case tokStart:
				s := "<" + tok.name.space + " " + tok.name.local
				for _, a := range tok.attrs {
					s += fmt.Sprintf(" %s %s=%q", a.Name.Space, a.Name.Local, a.Value)
				}
				out = append(out, s+">")
			case tokEnd:
				out = append(out, "</"+tok.name.local+">")
			case tokText:
				out = append(out, fmt.Sprintf("%q", tok.text))
			}
		}
	}
	a, errA := read(newBytesReader([]byte(in), lim))
	b, errB := read(newReader(iotest.OneByteReader(strings.NewReader(in)), lim, ErrResponseTooLarge))
	require.Equal(t, fmt.Sprint(errA), fmt.Sprint(errB), "bytes and reader disagree on %q", in)
	require.Equal(t, a, b)
	return a, errA
}

// TestReaderRefuses pins what the reader refuses beyond encoding/xml's own
// checks, and some of those, each with the reason it gives.
func TestReaderRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, reason string
	}{
		{"DOCTYPE", `<!DOCTYPE a><a/>`, "DOCTYPE or other declaration"},
		{"DOCTYPE declaring entities", `<!DOCTYPE a [<!ENTITY x "xxxxxxxx">]><a>&x;</a>`, "DOCTYPE or other declaration"},
		{"declaration inside the root", `<a><!ENTITY x "y"></a>`, "DOCTYPE or other declaration"},
		{"undeclared entity", `<a>&x;</a>`, "invalid character entity &x;"},
		{"entity in an attribute", `<a b="&x;"/>`, "invalid character entity &x;"},
		{"encoding other than UTF-8", `<?xml version="1.0" encoding="windows-1251"?><a/>`, "CharsetReader is nil"},
		{"XML 1.1", `<?xml version="1.1"?><a/>`, "only version 1.0"},
		{"declaration not first", ` <?xml version="1.0"?><a/>`, "not at the start"},
		{"declaration inside the root", `<a><?xml version="1.0"?></a>`, "not at the start"},
		{"declaration in another case", `<a><?XML version="1.0"?></a>`, "not at the start"},
		{"no root", ``, "no root element"},
		{"only a comment", `<!-- x -->`, "no root element"},
		{"text before the root", `x<a/>`, "text outside the root element"},
		{"text after the root", `<a/>x`, "text outside the root element"},
		{"a second root", `<a/><b/>`, "a second root element <b>"},
		{"unclosed", `<a><b>`, "unexpected EOF"},
		{"mismatched", `<a></b>`, "element <a> closed by </b>"},
		{"duplicate attribute", `<a b="1" b="2"/>`, "attribute b given twice"},
		{"duplicate by namespace", `<a xmlns:p="u" xmlns:q="u" p:b="1" q:b="2"/>`, "attribute b given twice"},
		{"duplicate among many", `<a a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" a9="" a10="" a11="" a12="" a13="" a14="" a15="" a16="" a17="" a1=""/>`, "attribute a1 given twice"},
		{"invalid UTF-8 in text", "<a>\xff</a>", "invalid UTF-8"},
		{"invalid UTF-8 in a comment", "<a><!-- \xff --></a>", "invalid UTF-8 in a comment"},
		{"invalid UTF-8 in a processing instruction", "<a><?p \xff?></a>", "invalid UTF-8 in a processing instruction"},
		{"control character", "<a>\x01</a>", "illegal character code U+0001"},
		{"control character reference", "<a>&#1;</a>", "illegal character code U+0001"},
		{"two colons", `<a:b:c/>`, "expected element name"},
		{"unquoted attribute", `<a b=c/>`, "unquoted or missing attribute value"},
		{"< in an attribute", `<a b="<"/>`, "unescaped < inside quoted string"},
		{"]]> in text", `<a>]]></a>`, "unescaped ]]>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := readAll(t, tc.in, Limits{})
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.ErrorContains(t, err, tc.reason)
			require.GreaterOrEqual(t, de.Offset, int64(0))
			require.LessOrEqual(t, de.Offset, int64(len(tc.in)))
		})
	}
}

// TestReaderReads checks what well-formed input reads as: a byte order
// mark and the declaration are dropped, so are comments and processing
// instructions, namespaces resolve (an undeclared prefix stands for
// itself), entities and CDATA are decoded, line ends normalized.
func TestReaderReads(t *testing.T) {
	t.Parallel()
	toks, err := readAll(t, "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"+
		`<!-- c --><s:E xmlns:s="`+NamespaceSOAP11+`"><s:B a="x&amp;y" xsi:type="t">a&lt;<![CDATA[<b>]]>`+"\r\n"+`</s:B><?pi x?><x xmlns="" xml:lang="ru"/></s:E>`+"\n<!-- end -->\n", Limits{})
	require.NoError(t, err)
	require.Equal(t, []string{
		`<` + NamespaceSOAP11 + ` E xmlns s="` + NamespaceSOAP11 + `">`,
		`<` + NamespaceSOAP11 + ` B  a="x&y" xsi type="t">`,
		`"a<"`, `"<b>"`, `"\n"`,
		`</B>`,
		`< x  xmlns="" http://www.w3.org/XML/1998/namespace lang="ru">`,
		`</x>`,
		`</E>`,
	}, toks)
}

// TestReaderLimits checks each cap, at its value and one past it.
func TestReaderLimits(t *testing.T) {
	t.Parallel()
	attrs := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, ` a%d=""`, i)
		}
		return b.String()
	}
	cases := []struct {
		name     string
		lim      Limits
		ok, over string
		reason   string
	}{
		{"name", Limits{MaxName: 8}, `<abcdefgh/>`, `<abcdefghi/>`, "name longer than 8 bytes"},
		{"prefixed name", Limits{MaxName: 8}, `<p:abcdefgh xmlns:p="u"/>`, `<p:abcdefghi xmlns:p="u"/>`, "name longer than 8 bytes"},
		{"attribute name", Limits{MaxName: 8}, `<a bcdefghi="1"/>`, `<a bcdefghij="1"/>`, "name longer than 8 bytes"},
		{"processing instruction", Limits{MaxName: 8}, `<a><?abcdefgh?></a>`, `<a><?abcdefghi?></a>`, "name longer than 8 bytes"},
		{"attributes", Limits{MaxAttrs: 2}, `<a b="1" c="2"/>`, `<a b="1" c="2" d="3"/>`, "more than 2 attributes"},
		{"default attributes", Limits{}, `<a` + attrs(256) + `/>`, `<a` + attrs(257) + `/>`, "more than 256 attributes"},
		{"attribute value", Limits{MaxAttrBytes: 4}, `<a b="&amp;xyz"/>`, `<a b="12345"/>`, "attribute b of <a> longer than 4 bytes"},
		{"namespace URI", Limits{MaxAttrBytes: 4}, `<a xmlns="urn:"/>`, `<a xmlns="urn:x"/>`, "attribute xmlns of <a> longer than 4 bytes"},
		{"default attribute value", Limits{}, `<a b="` + strings.Repeat("v", 4096) + `"/>`, `<a b="` + strings.Repeat("v", 4097) + `"/>`, "longer than 4096 bytes"},
		{"depth", Limits{MaxDepth: 3}, `<a><b><c/></b></a>`, `<a><b><c><d/></c></b></a>`, "nested deeper than 3"},
		{"bytes", Limits{MaxBytes: 12}, `<a>12345</a>`, `<a>123456</a>`, "response larger than the configured cap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "bytes" {
				// Only a reader is capped: bytes in memory are decoded
				// whole.
				lim := tc.lim.withDefaults()
				for _, in := range []string{tc.ok, tc.over} {
					z := newReader(strings.NewReader(in), lim, ErrResponseTooLarge)
					var err error
					for err == nil {
						var tok *token
						if tok, err = z.next(); err == nil && tok.kind == tokEOF {
							break
						}
					}
					if in == tc.ok {
						require.NoError(t, err)
						continue
					}
					var de *DecodeError
					require.ErrorAs(t, err, &de)
					require.ErrorIs(t, err, ErrResponseTooLarge)
					require.Equal(t, int64(12), de.Offset)
				}
				return
			}
			_, err := readAll(t, tc.ok, tc.lim)
			require.NoError(t, err)
			_, err = readAll(t, tc.over, tc.lim)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.ErrorContains(t, err, tc.reason)
		})
	}
}
