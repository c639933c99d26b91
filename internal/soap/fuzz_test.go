package soap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// allocBound is how many bytes the decoder may allocate per input byte, on
// top of a fixed allowance: the decoder's cost must stay a constant factor of
// what the peer sent, whatever it sent.
const (
	allocPerByte = 160
	allocFixed   = 256 << 10
)

// hostileSeeds are inputs built to make a parser blow up: entity expansion,
// deep nesting, huge attributes and names, many empty values.
func hostileSeeds() []string {
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>` +
		`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return><Property name="ResultCode"><Value>&lol3;</Value></Property></m:return></m:XResponse></soap:Body></soap:Envelope>`
	head := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Property name="ResultData">`
	tail := `</Property></m:return></m:XResponse></soap:Body></soap:Envelope>`
	var attrs, decls strings.Builder
	for i := range 300 {
		fmt.Fprintf(&attrs, ` a%d="&amp;"`, i)
		fmt.Fprintf(&decls, ` xmlns:p%d="urn:%d"`, i%200, i)
	}
	return []string{
		laughs,
		head + strings.Repeat(`<Value xsi:type="Structure"><Property name="a">`, 2000) + tail,
		head + `<Value xsi:type="ValueTable"` + strings.Repeat(` a`+"x"+`="`+strings.Repeat("y", 1000)+`"`, 1) + `>` + strings.Repeat(`<row>`+strings.Repeat(`<Value/>`, 100)+`</row>`, 100) + `</Value>` + tail,
		head + `<Value xsi:type="xs:string" big="` + strings.Repeat("z", 100000) + `">x</Value>` + tail,
		`<` + strings.Repeat("n", 100000) + `/>`,
		// Too many attributes on one element, then many namespaces in
		// scope, then a table of empty rows that each cost a slice.
		head + `<Value` + attrs.String() + `/>` + tail,
		head + strings.Repeat(`<Value xsi:type="Structure"`+decls.String()[:4000]+`><Property name="a">`, 50) + tail,
		head + `<Value xsi:type="ValueTable">` + strings.Repeat(`<row/>`, 20000) + `</Value>` + tail,
		// A message whose every cell is an entity.
		head + `<Value xsi:type="ValueTable"><column><Name>c</Name><ValueType/></column>` + strings.Repeat(`<row><Value>&#x41;&lt;</Value></row>`, 2000) + `</Value>` + tail,
		// Attribute floods within the limits: many elements of 256
		// attributes each, then of the longest attribute allowed.
		head + strings.Repeat(`<Value`+attrs.String()[:strings.Index(attrs.String(), " a256=")]+`/>`, 20) + tail,
		head + strings.Repeat(`<Value b="`+strings.Repeat("&lt;", 1024)+`"/>`, 50) + tail,
		// A DOCTYPE with a large internal subset: read, then refused.
		`<!DOCTYPE x [` + strings.Repeat(`<!ENTITY e "`+strings.Repeat("e", 100)+`">`, 1000) + `]>` + head + tail,
		// Nesting at the depth limit, over and over, and deeper than it.
		head + strings.Repeat(strings.Repeat(`<a>`, 55)+strings.Repeat(`</a>`, 55), 200) + `<b/>` + tail + `<second/>`,
		head + strings.Repeat(`<a>`, 100000) + tail,
		// Text in many small pieces (entities, CDATA, comments between).
		head + `<Value>` + strings.Repeat(`&amp;<![CDATA[x]]><!---->`, 5000) + `</Value>` + tail,
		// A value count far beyond MaxValues' default is cut short by
		// MaxBytes long before; many tiny values cost their share only.
		head + `<Value xsi:type="Structure">` + strings.Repeat(`<Property name="p"><Value/></Property>`, 5000) + `</Value>` + tail,
	}
}

func FuzzDecodeResponse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	var b bytes.Buffer
	_ = soap.EncodeFault(&b, soap.SOAP12, "Receiver", "x")
	f.Add(b.Bytes())
	// A read's answer, whose rows DecodeResponseRows streams.
	f.Add(readAnswer(3))
	for _, s := range hostileSeeds() {
		if len(s) < 4096 {
			// Long seeds slow every mutation down; TestHostileInputsBounded
			// runs them all.
			f.Add([]byte(s))
		}
	}
	for _, s := range []string{
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c --><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Header><h/></soap:Header><soap:Body><m:XResponse xmlns:m=\"x\"><m:return><Property name=\"ResultCode\"><Value><![CDATA[SUCCESS]]></Value></Property></m:return><m:fileData>&#x61;GVsbG8=</m:fileData></m:XResponse></soap:Body></soap:Envelope>\n",
		`<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><m:X xmlns:m="x"><m:Params xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ValueTable"><column><Name>a</Name><ValueType><Type>xs:decimal</Type><NumberQualifiers><Digits>5</Digits><FractionDigits>2</FractionDigits><AllowedSign>Nonnegative</AllowedSign></NumberQualifiers></ValueType></column><row><Value> 1.5 </Value></row><row><Value xsi:nil="true"/></row></m:Params></m:X></soap:Body></soap:Envelope>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := soap.DecodeResponse(bytes.NewReader(in), soap.Limits{})
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(in)+allocFixed); got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(in), got, limit)
		}
		if err == nil {
			// Whatever decodes, the packet view and plain view never panic.
			_, _ = resp.Rows()
			_ = resp.Data.Interface()
			_ = resp.Err()
		} else if resp != nil {
			t.Fatalf("error %v with a response", err)
		}
		// The []byte form reads alike.
		resp2, err2 := soap.DecodeResponseBytes(in, soap.Limits{})
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(resp, resp2) {
			t.Fatalf("DecodeResponse gives %v, %v; DecodeResponseBytes %v, %v", resp, err, resp2, err2)
		}
		checkStreamed(t, in, resp, err)
		// The same bytes read as a request (the sandbox's side) never
		// panic, within the same bound.
		runtime.ReadMemStats(&before)
		_, req, err := soap.DecodeRequest(bytes.NewReader(in), soap.Limits{})
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(in)+allocFixed); got > limit {
			t.Fatalf("decoding %d bytes as a request allocated %d bytes (limit %d)", len(in), got, limit)
		}
		if err != nil && req != nil {
			t.Fatalf("error %v with a request", err)
		}
	})
}

// checkStreamed decodes in with DecodeResponseRows, within the same
// allocation bound, and checks it against what DecodeResponse made of it
// (resp, err): the same answer and, row by row, the same table; or a
// refusal of one of the rules only streaming has.
func checkStreamed(t *testing.T, in []byte, resp *soap.Response, err error) {
	t.Helper()
	var rows [][]soap.Value
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sresp, serr := soap.DecodeResponseRows(bytes.NewReader(in), soap.Limits{}, func(cols []soap.Column, row []soap.Value) error {
		if len(row) != len(cols) {
			t.Fatalf("a streamed row of %d cells for %d columns", len(row), len(cols))
		}
		rows = append(rows, append([]soap.Value(nil), row...))
		return nil
	})
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(in)+allocFixed); got > limit {
		t.Fatalf("streaming %d bytes allocated %d bytes (limit %d)", len(in), got, limit)
	}
	switch {
	case serr != nil && sresp != nil:
		t.Fatalf("streamed: error %v with a response", serr)
	case serr == nil && err != nil:
		t.Fatalf("streamed: decoded what DecodeResponse refuses (%v)", err)
	case serr == nil:
		if sresp.Code != resp.Code || !reflect.DeepEqual(sresp.Extra, resp.Extra) {
			t.Fatalf("streamed: %+v, want %+v", sresp, resp)
		}
		if resp.Data.Kind != soap.KindTable {
			if !reflect.DeepEqual(sresp.Data, resp.Data) || rows != nil {
				t.Fatalf("streamed: data %v and %d rows, want %v", sresp.Data, len(rows), resp.Data)
			}
			return
		}
		want := resp.Data.Table.Rows
		if len(want) == 0 {
			want = nil
		}
		if sresp.Data.Table.Rows != nil || !reflect.DeepEqual(sresp.Data.Table.Columns, resp.Data.Table.Columns) || !reflect.DeepEqual(rows, want) {
			t.Fatalf("streamed: %v with rows %v, want %v", sresp.Data.Table, rows, resp.Data.Table)
		}
	case err == nil:
		// Only streaming needs the columns first and full rows.
		if msg := serr.Error(); !strings.Contains(msg, "cells for") && !strings.Contains(msg, "a column after row") {
			t.Fatalf("streamed: refused what DecodeResponse reads: %v", serr)
		}
	}
}

// TestHostileInputsBounded runs the hostile seeds in every `go test`, not only
// under -fuzz, through both response decoders.
func TestHostileInputsBounded(t *testing.T) {
	decoders := map[string]func(string) error{
		"DecodeResponse": func(s string) error {
			_, err := soap.DecodeResponse(strings.NewReader(s), soap.Limits{})
			return err
		},
		"DecodeResponseRows": func(s string) error {
			_, err := soap.DecodeResponseRows(strings.NewReader(s), soap.Limits{}, func([]soap.Column, []soap.Value) error { return nil })
			return err
		},
	}
	for name, decode := range decoders {
		for i, s := range hostileSeeds() {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := decode(s)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("%s: seed %d: hostile input decoded without error", name, i)
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(s)+allocFixed); got > limit {
				t.Errorf("%s: seed %d: %d bytes allocated for %d input bytes (limit %d)", name, i, got, len(s), limit)
			}
		}
	}
}

// TestDecodeRejectsWhatXMLForbids covers the document rules and limits at
// the level of whole messages; TestReaderRefuses pins each reason.
func TestDecodeRejectsWhatXMLForbids(t *testing.T) {
	t.Parallel()
	env := func(body string) string {
		return `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Property name="ResultCode"><Value>SUCCESS</Value></Property>` + body + `</m:return></m:XResponse></soap:Body></soap:Envelope>`
	}
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, ` b%d=""`, i)
	}
	manyAttrs := b.String()
	ok := env("")
	_, err := soap.DecodeResponse(strings.NewReader(ok), soap.Limits{})
	require.NoError(t, err)
	cases := map[string]string{
		"DOCTYPE without entities":   `<!DOCTYPE soap:Envelope>` + ok,
		"DOCTYPE declaring entities": `<!DOCTYPE soap:Envelope [<!ENTITY a "aaaa">]>` + env(`<Property name="a"><Value>&a;</Value></Property>`),
		"declared encoding":          `<?xml version="1.0" encoding="windows-1251"?>` + ok,
		"declaration not first":      "\n" + `<?xml version="1.0"?>` + ok,
		"trailing garbage":           ok + `garbage`,
		"a second root":              ok + `<x/>`,
		"truncated after the body":   strings.TrimSuffix(ok, `</soap:Body></soap:Envelope>`),
		"unknown entity":             env(`<Property name="a"><Value>&nbsp;</Value></Property>`),
		"duplicate attribute":        env(`<Property name="a" name="b"><Value>x</Value></Property>`),
		"invalid UTF-8 in a comment": env("<!-- \xff -->"),
		"invalid UTF-8 in text":      env("<Property name=\"a\"><Value>\xff</Value></Property>"),
		"control character":          env("<Property name=\"a\"><Value>\x01</Value></Property>"),
		"too many attributes":        env(`<Property` + manyAttrs + `/>`),
		"attribute too long":         env(`<Property name="` + strings.Repeat("n", 5000) + `"/>`),
		"name too long":              env(`<` + strings.Repeat("P", 2000) + `/>`),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, decode := range []func() error{
				func() error { _, err := soap.DecodeResponse(strings.NewReader(in), soap.Limits{}); return err },
				func() error { _, err := soap.DecodeResponseBytes([]byte(in), soap.Limits{}); return err },
				func() error { _, _, err := soap.DecodeRequest(strings.NewReader(in), soap.Limits{}); return err },
			} {
				err := decode()
				var de *soap.DecodeError
				require.ErrorAs(t, err, &de)
				require.True(t, soap.MayHaveBeenProcessed(err))
			}
		})
	}
	// A byte order mark, a declaration, comments and processing
	// instructions are fine; so is an undeclared xsi: prefix. encoding/xml
	// reads two inputs XML does not allow, harmlessly: a reference to a
	// surrogate (as U+FFFD) and attributes not separated by a space.
	for _, in := range []string{
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + ok + "\n<!-- end -->\n",
		env(`<?pi x?><!-- c --><Property name="ResultData"><Value xsi:type="xs:boolean"> true </Value></Property>`),
		strings.Replace(env(`<Property name="ResultData"><Value xsi:nil="true"/></Property>`), ` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`, "", 1),
		env(`<Property name="ResultData"><Value>&#xD800;</Value></Property>`),
		env(`<Property name="ResultData"xsi:nil="true"><Value>x</Value></Property>`),
	} {
		resp, err := soap.DecodeResponse(strings.NewReader(in), soap.Limits{})
		require.NoError(t, err, in)
		require.Equal(t, "SUCCESS", resp.Code)
	}
}

// TestDecodeReaderCap checks Limits.MaxBytes on the io.Reader forms.
func TestDecodeReaderCap(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, soap.EncodeResponse(&b, soap.SOAP12, &soap.Response{Op: "X", Code: "SUCCESS"}))
	msg := b.String()
	lim := soap.Limits{MaxBytes: int64(len(msg))}
	_, err := soap.DecodeResponse(strings.NewReader(msg), lim)
	require.NoError(t, err)
	_, err = soap.DecodeResponse(iotest.OneByteReader(strings.NewReader(msg)), lim)
	require.NoError(t, err)
	lim.MaxBytes--
	_, err = soap.DecodeResponse(strings.NewReader(msg), lim)
	require.ErrorIs(t, err, soap.ErrResponseTooLarge)
	_, err = soap.DecodeResponse(bytes.NewBufferString(msg), lim)
	require.ErrorIs(t, err, soap.ErrResponseTooLarge)
	_, _, err = soap.DecodeRequest(iotest.OneByteReader(strings.NewReader(msg)), lim)
	var de *soap.DecodeError
	require.ErrorAs(t, err, &de)
	_, err = soap.DecodeResponse(iotest.ErrReader(errors.New("boom")), soap.Limits{})
	require.ErrorAs(t, err, &de)
	require.ErrorContains(t, err, "boom")
}
