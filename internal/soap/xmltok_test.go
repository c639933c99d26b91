package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The tokenizer is checked against encoding/xml, which the decoder used
// before it: FuzzTokenizerMatchesEncodingXML feeds the same bytes to both
// and requires the same tokens, or a rejection by both, except where the
// two differ by design. Those differences are listed here, and each is
// handled by a check of its own in allowedDifference, never by skipping an
// input wholesale.
//
// encoding/xml's Decoder.Token is a tokenizer, not a document parser. The
// reference (refTokens) adds the document rules it leaves to its caller, as
// the old decoder partly did and the tokenizer does in full:
//
//   - exactly one root element, and outside it no character data but
//     whitespace (the old decoder refused text before the root, and never
//     read past the end of the body);
//   - a Directive (<!DOCTYPE …> or any other <!…> declaration) is refused,
//     where encoding/xml returns it and ignores it;
//   - a processing instruction whose target is "xml" in any case must be
//     the XML declaration, spelled <?xml at the very start (encoding/xml
//     accepts it anywhere);
//   - a UTF-8 byte order mark before the document is dropped (XML 1.0
//     section 4.3.3 allows it; encoding/xml reads it as text).
//
// Then the tokenizer is stricter than encoding/xml in these, by design
// (XML 1.0 well-formedness, which encoding/xml does not fully check):
//
//  1. invalid UTF-8 or a character XML does not allow, anywhere: in
//     comments, processing instructions and the XML declaration too, which
//     encoding/xml does not check (ruleUTF8, ruleChar);
//  2. a character reference to a surrogate (&#xD800;…&#xDFFF;), which
//     encoding/xml reads as U+FFFD (ruleCharRef);
//  3. attributes not separated by whitespace, <a b="1"c="2"> (ruleAttrSpace);
//  4. an attribute given twice, by name or by namespace and local name
//     (ruleDupAttr);
//  5. an XML declaration that is not exactly version, then optionally
//     encoding and standalone, with their allowed values; encoding/xml
//     only looks for version= and encoding= in it (ruleDecl);
//  6. a processing instruction whose target is not followed by whitespace
//     or ?>, as in <?a?b?> (rulePI);
//  7. character data outside the root element written as a reference or a
//     CDATA section, even if it stands for whitespace (ruleOutsideRoot).
//
// encoding/xml is stricter in one: it checks names against the tables of
// XML 1.0's fourth edition, the tokenizer against the simpler and wider
// NameStartChar and NameChar ranges of the fifth edition (8). So a name
// with non-ASCII characters may be refused by encoding/xml alone.
//
// And one is a bug of encoding/xml, where both accept but name differently:
// an element named xmlns without a prefix is put in no namespace by
// encoding/xml, in the default namespace by the tokenizer, as XML
// Namespaces says (9).

// refToken is a token in the form both tokenizers are compared in.
type refToken struct {
	Kind         tokenKind
	Space, Local string
	Attrs        []refAttr
	Text         string
}

type refAttr struct{ Space, Local, Value string }

func (t refToken) String() string {
	switch t.Kind {
	case tokStart:
		return fmt.Sprintf("<{%s}%s %v>", t.Space, t.Local, t.Attrs)
	case tokEnd:
		return fmt.Sprintf("</{%s}%s>", t.Space, t.Local)
	}
	return fmt.Sprintf("text %q", t.Text)
}

// Errors of the document rules refTokens adds to encoding/xml.
var (
	errRefNoRoot      = errors.New("ref: no root element")
	errRefSecondRoot  = errors.New("ref: a second root element")
	errRefTextOutside = errors.New("ref: text outside the root element")
	errRefDirective   = errors.New("ref: a directive (DOCTYPE)")
	errRefDecl        = errors.New("ref: <?xml not at the start")
)

// refResult is what the reference read.
type refResult struct {
	toks []refToken
	err  error
	// declFirst tells that the first token was the XML declaration, at the
	// start (after a BOM).
	declFirst bool
}

// refTokens reads in with encoding/xml in Strict mode, plus the document
// rules listed above.
func refTokens(in []byte) refResult {
	var res refResult
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	depth, roots := 0, 0
	for first := true; ; first = false {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			if roots == 0 {
				res.err = errRefNoRoot
			}
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && roots > 0 {
				res.err = errRefSecondRoot
				return res
			}
			if depth == 0 {
				roots++
			}
			depth++
			rt := refToken{Kind: tokStart, Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				rt.Attrs = append(rt.Attrs, refAttr{a.Name.Space, a.Name.Local, a.Value})
			}
			res.toks = append(res.toks, rt)
		case xml.EndElement:
			depth--
			res.toks = append(res.toks, refToken{Kind: tokEnd, Space: t.Name.Space, Local: t.Name.Local})
		case xml.CharData:
			if depth == 0 {
				if len(bytes.Trim(t, " \t\r\n")) > 0 {
					res.err = errRefTextOutside
					return res
				}
				continue
			}
			res.toks = append(res.toks, refToken{Kind: tokText, Text: string(t)})
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				if t.Target != "xml" || off != 0 {
					res.err = errRefDecl
					return res
				}
				res.declFirst = first
			}
		case xml.Directive:
			res.err = errRefDirective
			return res
		}
	}
}

// ourTokens reads in with the tokenizer.
func ourTokens(in []byte, lim Limits) ([]refToken, error) {
	var z tokenizer
	z.reset(in, lim.withDefaults())
	var toks []refToken
	for n := 0; ; n++ {
		if n > len(in)+1 {
			panic("tokenizer makes no progress")
		}
		t, err := z.next()
		if err != nil {
			return toks, err
		}
		switch t.kind {
		case tokStart:
			rt := refToken{Kind: tokStart, Space: t.name.space, Local: string(t.name.local)}
			for _, a := range t.attrs {
				rt.Attrs = append(rt.Attrs, refAttr{a.name.space, string(a.name.local), string(a.value)})
			}
			toks = append(toks, rt)
		case tokEnd:
			toks = append(toks, refToken{Kind: tokEnd, Space: t.name.space, Local: string(t.name.local)})
		case tokText:
			toks = append(toks, refToken{Kind: tokText, Text: string(t.text)})
		case tokEOF:
			return toks, nil
		}
	}
}

// merged joins adjacent character data and drops empty ones: the two
// tokenizers split text differently around comments, processing
// instructions and CDATA sections, and the decoder joins it anyway.
func merged(toks []refToken) []refToken {
	var out []refToken
	for _, t := range toks {
		if t.Kind == tokText {
			if t.Text == "" {
				continue
			}
			if n := len(out); n > 0 && out[n-1].Kind == tokText {
				out[n-1].Text += t.Text
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

// sameToken compares two tokens, allowing difference 9: encoding/xml puts
// an unprefixed element named xmlns in no namespace.
func sameToken(ours, ref refToken) bool {
	if ref.Kind != tokText && ref.Local == "xmlns" && ref.Space == "" && ours.Local == "xmlns" {
		ours.Space = ""
	}
	return fmt.Sprint(ours) == fmt.Sprint(ref)
}

// isPrefixOf reports whether ours, read up to an error, agrees with the
// start of ref; its last text may be the start of ref's, which may go on
// past where ours stopped.
func isPrefixOf(ours, ref []refToken) bool {
	if len(ours) > len(ref) {
		return false
	}
	for i, t := range ours {
		if i == len(ours)-1 && t.Kind == tokText && ref[i].Kind == tokText {
			return strings.HasPrefix(ref[i].Text, t.Text)
		}
		if !sameToken(t, ref[i]) {
			return false
		}
	}
	return true
}

// fuzzLimits are limits that never bind: the fuzz target compares
// well-formedness, not limits (TestTokenizerLimits does those).
var fuzzLimits = Limits{MaxName: 1 << 30, MaxAttrs: 1 << 30}

// compareWithEncodingXML fails t unless the tokenizer and the reference
// agree on in, or differ in one of the ways allowed above.
func compareWithEncodingXML(t *testing.T, in []byte) {
	t.Helper()
	oursRaw, err := ourTokens(in, fuzzLimits)
	ours := merged(oursRaw)
	ref := refTokens(in)
	refToks := merged(ref.toks)
	switch {
	case err == nil && ref.err == nil:
		if len(ours) != len(refToks) {
			t.Fatalf("input %q:\nours %v\nref  %v", in, ours, refToks)
		}
		for i := range ours {
			if !sameToken(ours[i], refToks[i]) {
				t.Fatalf("input %q: token %d differs:\nours %v\nref  %v", in, i, ours[i], refToks[i])
			}
		}
	case err != nil && ref.err != nil:
		// Both refuse; where each stopped may differ.
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("input %q: error %v is not a *DecodeError", in, err)
		}
	case err != nil:
		if why := allowedDifference(in, err, ours, refToks, ref); why != "" {
			t.Fatalf("input %q: the tokenizer refuses (%v) what encoding/xml accepts: %s\nours %v\nref  %v", in, err, why, ours, refToks)
		}
	default:
		if !refStricterOnNames(ref.err) {
			t.Fatalf("input %q: the tokenizer accepts what encoding/xml refuses (%v)\nours %v\nref  %v", in, ref.err, ours, refToks)
		}
		// What encoding/xml read before it stopped, the tokenizer read alike.
		if !isPrefixOf(refToks, ours) {
			t.Fatalf("input %q: tokens differ before encoding/xml's error %v:\nours %v\nref  %v", in, ref.err, ours, refToks)
		}
	}
}

// allowedDifference checks that the tokenizer refused in, which the
// reference accepted, for one of the reasons 1–7 above; it returns why not,
// or "" if so.
func allowedDifference(in []byte, err error, ours, ref []refToken, res refResult) string {
	var de *DecodeError
	var xe *xmlError
	if !errors.As(err, &de) || !errors.As(err, &xe) {
		return "not a well-formedness error"
	}
	if !isPrefixOf(ours, ref) {
		return "the tokens before the error differ"
	}
	off := int(de.Offset)
	if off < 0 || off > len(in) {
		return "offset out of the input"
	}
	at := in[off:]
	switch xe.rule {
	case ruleUTF8: // 1
		if r, n := utf8.DecodeRune(at); r == utf8.RuneError && n == 1 {
			return ""
		}
		return "no invalid UTF-8 at the offset"
	case ruleChar: // 1
		if r, n := utf8.DecodeRune(at); n > 0 && !(r == utf8.RuneError && n == 1) && !isXMLCharRef(r) {
			return ""
		}
		return "no disallowed character at the offset"
	case ruleCharRef: // 2
		ref, ok := bytes.CutPrefix(at, []byte("&#"))
		end := bytes.IndexByte(ref, ';')
		if !ok || end < 0 {
			return "no character reference at the offset"
		}
		base, digits := 10, string(ref[:end])
		if d, ok := strings.CutPrefix(digits, "x"); ok {
			base, digits = 16, d
		}
		if v, err := strconv.ParseUint(digits, base, 32); err == nil && v >= 0xD800 && v <= 0xDFFF {
			return ""
		}
		return "the reference is not to a surrogate"
	case ruleAttrSpace: // 3
		if off > 0 && (in[off-1] == '"' || in[off-1] == '\'') {
			return ""
		}
		return "no attribute value ends right before the offset"
	case ruleDupAttr: // 4
		if len(ours) < len(ref) && ref[len(ours)].Kind == tokStart {
			seen := map[[2]string]bool{}
			for _, a := range ref[len(ours)].Attrs {
				if seen[[2]string{a.Space, a.Local}] {
					return ""
				}
				seen[[2]string{a.Space, a.Local}] = true
			}
		}
		return "encoding/xml's next start element has no attribute twice"
	case ruleDecl: // 5
		if res.declFirst && len(ours) == 0 {
			return ""
		}
		return "the error is not in the XML declaration that encoding/xml read first"
	case rulePI: // 6
		if len(at) > 0 && !bytes.HasPrefix(at, []byte("?>")) && charClass[at[0]]&cSpace == 0 {
			return ""
		}
		return "whitespace or ?> at the offset"
	case ruleOutsideRoot: // 7
		if bytes.HasPrefix(at, []byte("&")) || bytes.HasPrefix(at, []byte("<![CDATA[")) {
			return ""
		}
		return "neither a reference nor CDATA at the offset"
	}
	return fmt.Sprintf("rule %d is not an allowed difference", xe.rule)
}

// isXMLCharRef is the Char production of XML 1.0, written out again here
// rather than shared with the tokenizer.
func isXMLCharRef(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || 0x20 <= r && r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
}

// refStricterOnNames reports whether encoding/xml refused a name that is a
// Name of XML 1.0's fifth edition (difference 8).
func refStricterOnNames(err error) bool {
	var se *xml.SyntaxError
	if !errors.As(err, &se) {
		return false
	}
	name, ok := strings.CutPrefix(se.Msg, "invalid XML name: ")
	return ok && isFifthEditionName(name) && strings.ContainsFunc(name, func(r rune) bool { return r >= utf8.RuneSelf })
}

// isFifthEditionName is the Name production of XML 1.0, fifth edition,
// written out again from the specification.
func isFifthEditionName(s string) bool {
	start := func(r rune) bool {
		return r == ':' || 'A' <= r && r <= 'Z' || r == '_' || 'a' <= r && r <= 'z' ||
			0xC0 <= r && r <= 0xD6 || 0xD8 <= r && r <= 0xF6 || 0xF8 <= r && r <= 0x2FF ||
			0x370 <= r && r <= 0x37D || 0x37F <= r && r <= 0x1FFF || 0x200C <= r && r <= 0x200D ||
			0x2070 <= r && r <= 0x218F || 0x2C00 <= r && r <= 0x2FEF || 0x3001 <= r && r <= 0xD7FF ||
			0xF900 <= r && r <= 0xFDCF || 0xFDF0 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0xEFFFF
	}
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		ok := start(r) || i > 0 && (r == '-' || r == '.' || '0' <= r && r <= '9' || r == 0xB7 ||
			0x300 <= r && r <= 0x36F || 0x203F <= r && r <= 0x2040)
		if !ok {
			return false
		}
	}
	return true
}

// tokenizerSeeds are inputs that exercise each construct and each rule.
func tokenizerSeeds() []string {
	return []string{
		`<a/>`,
		`<?xml version="1.0" encoding="UTF-8"?><a>x</a>`,
		"\xEF\xBB\xBF<?xml version='1.0' standalone='yes'?>\n<a/>\n",
		`<?xml version="1.0" encoding="latin1"?><a/>`,
		`<?xml version="1.1"?><a/>`,
		`<?xml?><a/>`,
		`<a/><?xml version="1.0"?>`,
		`<?XML version="1.0"?><a/>`,
		`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		`<p:a xmlns:p="urn:p" xmlns="urn:d"><b p:c="1" c="2"/><p:b/></p:a>`,
		`<a xmlns:p="u"><p:b xmlns:p="v"/><p:b/></a>`,
		`<a xsi:type="xs:string">x</a>`,
		`<a><b></a></b>`,
		`<a></b>`,
		`<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;</a>`,
		`<a>&#xD800;</a>`,
		`<a>&#0;</a>`,
		`<a>&unknown;</a>`,
		`<a>&lt</a>`,
		`<a b="1"c="2"/>`,
		`<a b="1" b="2"/>`,
		`<a xmlns:p="u" xmlns:q="u" p:b="1" q:b="2"/>`,
		`<a b="<"/>`,
		`<a b=c/>`,
		`<a b='x"y' c="x'y" d="&#9;&#10;&#13;	` + "\r\n" + `"/>`,
		"<a>x\r\ny\rz</a>",
		`<a><![CDATA[<&]]>` + "\r\n" + `]]></a>`,
		`<a>]]></a>`,
		`<a><!-- c -- d --></a>`,
		`<a><!-- c - d --><!----></a>`,
		`<a><?pi data?><?pi?></a>`,
		`<a><?pi?data?></a>`,
		`<a>` + "\xff" + `</a>`,
		`<a><!--` + "\xff" + `--></a>`,
		`<a>` + "\x01" + `</a>`,
		`<a><?p ` + "\uFFFE" + `?></a>`,
		`text<a/>`,
		`<a/>text`,
		`<a/><b/>`,
		`&#32;<a/>`,
		`<![CDATA[ ]]><a/>`,
		``,
		` `,
		`<a>`,
		`<a b="`,
		`<:a/>`,
		`<a:/>`,
		`<a:b:c/>`,
		`<xmlns xmlns="u"/>`,
		`<xml:a xml:lang="ru"/>`,
		`<Ä xmlns:Ö="u" Ö:ü="1"/>`,
		"<a\u0E01/>",
		"<a\u00B7b/>",
		"<a\u2070/>",
		"<\u0300/>",
		`<a></a >`,
		`<a/ >`,
		`< a/>`,
		`<a><</a>`,
		`<a>>&amp;</a>`,
		`<a b = "1" />`,
		// Past eight attributes the duplicate check hashes.
		`<a xmlns:p="u" xmlns:q="u" a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" p:x="" q:x=""/>`,
		`<a xmlns:p="u" xmlns:q="v" a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" p:x="" q:x="" x=""/>`,
		`<a a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" a9="" a1=""/>`,
		`<a xmlns:p="foo" p:x="" foo:x=""/>`,
		`<a xmlns:p="foo" a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" p:x="" foo:x=""/>`,
	}
}

func FuzzTokenizerMatchesEncodingXML(f *testing.F) {
	for _, s := range tokenizerSeeds() {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		compareWithEncodingXML(t, in)
	})
}

// TestTokenizerMatchesEncodingXML runs the seeds and the regressions the
// fuzz target found in every `go test`.
func TestTokenizerMatchesEncodingXML(t *testing.T) {
	for _, s := range append(tokenizerSeeds(), tokenizerRegressions...) {
		t.Run(fmt.Sprintf("%.40q", s), func(t *testing.T) { compareWithEncodingXML(t, []byte(s)) })
	}
}

// tokenizerRegressions are inputs FuzzTokenizerMatchesEncodingXML found.
var tokenizerRegressions = []string{
	// The XML declaration ends at the first ?>, even inside a quote.
	`<?xml version="?><a></a>`,
}

// TestTokenizerRules pins the rule each malformed input breaks, and what
// well-formed ones read as.
func TestTokenizerRules(t *testing.T) {
	refused := []struct {
		in   string
		rule xmlRule
	}{
		{`<!DOCTYPE a><a/>`, ruleDoctype},
		{`<a><!DOCTYPE a></a>`, ruleDoctype},
		{`<a>&x;</a>`, ruleEntity},
		{`<a>&#xD800;</a>`, ruleCharRef},
		{`<a>&#x110000;</a>`, ruleCharRef},
		{`<a>&#99999999999999999999;</a>`, ruleCharRef},
		{`<a>&#xFFFE;</a>`, ruleCharRef},
		{`<a>&#;</a>`, ruleEntity},
		{`<a>&#X41;</a>`, ruleEntity},
		{"<a>\xc3</a>", ruleUTF8},
		{"<a><!-- \xed\xa0\x80 --></a>", ruleUTF8},
		{"<a>\x00</a>", ruleChar},
		{"<a b='\x0c'/>", ruleChar},
		{`<a b="1"c="2"/>`, ruleAttrSpace},
		{`<a b="1" b="2"/>`, ruleDupAttr},
		{`<a xmlns:p="u" xmlns:q="u" p:b="1" q:b="2"/>`, ruleDupAttr},
		{`<a xmlns="u" xmlns="v"/>`, ruleDupAttr},
		{`<a xmlns:p="u" xmlns:q="u" a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" p:x="" q:x=""/>`, ruleDupAttr},
		{`<a xmlns:p="foo" a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" p:x="" foo:x=""/>`, ruleDupAttr},
		{`<a a1="" a2="" a3="" a4="" a5="" a6="" a7="" a8="" a9="" a1=""/>`, ruleDupAttr},
		{`<?xml version="1.0" encoding="windows-1251"?><a/>`, ruleDecl},
		{`<?xml encoding="UTF-8"?><a/>`, ruleDecl},
		{` <?xml version="1.0"?><a/>`, ruleDecl},
		{`<a><?xml version="1.0"?></a>`, ruleDecl},
		{`<a><?Xml x?></a>`, ruleDecl},
		{`<a><?p?x?></a>`, rulePI},
		{`x<a/>`, ruleOutsideRoot},
		{`<a/>x`, ruleOutsideRoot},
		{`<a/><b/>`, ruleOutsideRoot},
		{`&#32;<a/>`, ruleOutsideRoot},
		{`<a/><![CDATA[]]>`, ruleOutsideRoot},
		{``, ruleEOF},
		{`<a>`, ruleEOF},
		{`<a><b>text`, ruleEOF},
		{`<a><!-- x`, ruleEOF},
		{`<a><![CDATA[x`, ruleEOF},
		{`<a b="x`, ruleEOF},
		{`<a:b:c/>`, ruleName},
		{`<a 1="x"/>`, ruleName},
		{`<a b/>`, ruleSyntax},
		{`<a b=c/>`, ruleSyntax},
		{`<a b="<"/>`, ruleSyntax},
		{`<a></b>`, ruleSyntax},
		{`<a>]]></a>`, ruleSyntax},
		{`<a><!-- -- --></a>`, ruleSyntax},
		{`<a><!foo></a>`, ruleSyntax},
		{`</a>`, ruleSyntax},
	}
	for _, tc := range refused {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			_, err := ourTokens([]byte(tc.in), Limits{})
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			var xe *xmlError
			require.ErrorAs(t, err, &xe)
			require.Equal(t, tc.rule, xe.rule, "%v", err)
			require.GreaterOrEqual(t, de.Offset, int64(0))
			require.LessOrEqual(t, de.Offset, int64(len(tc.in)))
		})
	}

	toks, err := ourTokens([]byte("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"no\"?>\n"+
		`<!-- c --><s:E xmlns:s="`+NamespaceSOAP11+`"><s:B a="x&amp;y" xsi:type="t">a&lt;<![CDATA[<b>]]>`+"\r\n"+`</s:B><x xmlns="" xml:lang="ru"/></s:E>`), Limits{})
	require.NoError(t, err)
	require.Equal(t, []refToken{
		{Kind: tokStart, Space: NamespaceSOAP11, Local: "E", Attrs: []refAttr{{"xmlns", "s", NamespaceSOAP11}}},
		{Kind: tokStart, Space: NamespaceSOAP11, Local: "B", Attrs: []refAttr{{"", "a", "x&y"}, {"xsi", "type", "t"}}},
		{Kind: tokText, Text: "a<"},
		{Kind: tokText, Text: "<b>"},
		{Kind: tokText, Text: "\n"},
		{Kind: tokEnd, Space: NamespaceSOAP11, Local: "B"},
		{Kind: tokStart, Space: "", Local: "x", Attrs: []refAttr{{"", "xmlns", ""}, {xmlURL, "lang", "ru"}}},
		{Kind: tokEnd, Space: "", Local: "x"},
		{Kind: tokEnd, Space: NamespaceSOAP11, Local: "E"},
	}, toks)
}

// TestTokenizerLimits checks the caps on names and attributes, which make
// every token cost a constant factor of its input.
func TestTokenizerLimits(t *testing.T) {
	lim := Limits{MaxName: 8, MaxAttrs: 2}
	for _, in := range []string{`<abcdefgh/>`, `<a b="1" c="2"/>`, `<a:bcdefg/>`} {
		_, err := ourTokens([]byte(in), lim)
		require.NoError(t, err, in)
	}
	for _, in := range []string{`<abcdefghi/>`, `<a b="1" c="2" d="3"/>`, `<a bcdefghij="1"/>`, `<ab:cdefgh/>`, `<a><?abcdefghi?></a>`} {
		_, err := ourTokens([]byte(in), lim)
		var xe *xmlError
		require.ErrorAs(t, err, &xe, in)
		require.Equal(t, ruleLimit, xe.rule, "%s: %v", in, err)
	}
	// The defaults: a name of 1,024 bytes and 256 attributes pass, one more
	// does not.
	name := strings.Repeat("n", 1024)
	_, err := ourTokens([]byte("<"+name+"/>"), Limits{})
	require.NoError(t, err)
	_, err = ourTokens([]byte("<"+name+"n/>"), Limits{})
	require.ErrorContains(t, err, "name longer than 1024 bytes")
	var attrs strings.Builder
	for i := range 256 {
		fmt.Fprintf(&attrs, ` a%d=""`, i)
	}
	_, err = ourTokens([]byte("<a"+attrs.String()+"/>"), Limits{})
	require.NoError(t, err)
	_, err = ourTokens([]byte("<a"+attrs.String()+` z=""/>`), Limits{})
	require.ErrorContains(t, err, "more than 256 attributes")
}

// TestTokenizerManyNamespaces runs past linearBinds, where bindings move to
// an index, and back.
func TestTokenizerManyNamespaces(t *testing.T) {
	var b strings.Builder
	b.WriteString("<r>")
	for i := range 3 * linearBinds {
		fmt.Fprintf(&b, `<e%d xmlns:p%d="u%d" xmlns:q="q%d">`, i, i%50, i, i)
	}
	b.WriteString(`<p0:x q:y="1"/>`)
	for i := 3*linearBinds - 1; i >= 0; i-- {
		fmt.Fprintf(&b, `</e%d><p%d:z q:w="2"/>`, i, i%50)
	}
	b.WriteString("</r>")
	compareWithEncodingXML(t, []byte(b.String()))
}

// TestNameCharsCoverEncodingXML checks difference 8 one way: every
// character encoding/xml accepts in a name, the tokenizer accepts too.
func TestNameCharsCoverEncodingXML(t *testing.T) {
	accepts := func(s string) bool {
		d := xml.NewDecoder(strings.NewReader(s))
		_, err := d.Token()
		return err == nil
	}
	for r := rune(0x80); r <= 0xFFFF; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		c := string(r)
		if accepts("<" + c + "/>") {
			require.True(t, isNameStartRune(r), "%U starts a name for encoding/xml", r)
		}
		if accepts("<a" + c + "/>") {
			require.True(t, isNameRune(r), "%U is in a name for encoding/xml", r)
		}
		require.Equal(t, isFifthEditionName(c), isNameStartRune(r), "%U", r)
		require.Equal(t, isFifthEditionName("a"+c), isNameRune(r), "%U", r)
	}
}
