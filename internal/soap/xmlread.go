package soap

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// This file reads the tokens of one message with encoding/xml's Decoder,
// under Limits and the document rules the Decoder leaves to its caller:
//
//   - the Decoder is Strict, knows no entity but XML's five predefined ones
//     (Entity is nil) and has no CharsetReader, so an encoding other than
//     UTF-8 is refused; it checks that tags match, that text and attribute
//     values are UTF-8 of XML characters, and that entities are known;
//   - any Directive (<!DOCTYPE …>, <!ENTITY …>, …) is refused, so no DTD is
//     read and no entity is ever declared, let alone expanded;
//   - comments and processing instructions are valid UTF-8 too;
//   - exactly one root element, and outside it only whitespace, comments
//     and processing instructions; an XML declaration only at the very
//     start (after a UTF-8 byte order mark, which is dropped);
//   - at most Limits.MaxDepth open elements, Limits.MaxAttrs attributes per
//     element, none given twice (by namespace and local name), names of at
//     most Limits.MaxName bytes, attribute values of at most
//     Limits.MaxAttrBytes, and at most Limits.MaxBytes of input.
//
// The Decoder holds a token in memory before it returns it, so these
// checks come after the bytes are read: what bounds the cost of hostile
// input is MaxBytes, and the Decoder's cost per byte, which is a constant
// factor (each token is built from the bytes just read, and one element's
// attributes are read once). The depth check keeps the Decoder's own
// stack of open elements bounded too.

// tokenKind is what a token is.
type tokenKind uint8

const (
	// tokStart is a start tag. An empty-element tag <a/> is a tokStart
	// followed by a tokEnd.
	tokStart tokenKind = iota + 1
	// tokEnd is an end tag, matched to its start tag.
	tokEnd
	// tokText is character data: a run of text between markup, or one
	// CDATA section.
	tokText
	// tokEOF is the end of the document, once the root element has closed.
	tokEOF
)

// xname is a namespace-resolved name.
type xname struct {
	// space is the namespace the prefix is bound to: "" for none, the
	// prefix itself when it is undeclared (encoding/xml's rule), "xmlns"
	// for a namespace declaration.
	space string
	// local is the name without its prefix.
	local string
}

// is reports whether the local name is local.
func (n xname) is(local string) bool { return n.local == local }

// token is what reader.next returns. It is reused: it is valid until the
// next call, and its text is encoding/xml's buffer.
type token struct {
	kind  tokenKind
	name  xname      // tokStart and tokEnd
	attrs []xml.Attr // tokStart
	text  []byte     // tokText
}

// attr returns the value of the attribute local in namespace space ("" for
// an unqualified attribute), or "".
func (t *token) attr(space, local string) string {
	for i := range t.attrs {
		a := &t.attrs[i]
		// An undeclared xsi: prefix stands for itself; it can only mean
		// the schema-instance namespace.
		if a.Name.Local == local && (a.Name.Space == space || space == NamespaceXSI && a.Name.Space == "xsi") {
			return a.Value
		}
	}
	return ""
}

// bom is the UTF-8 byte order mark, which XML 1.0 allows before a document
// (section 4.3.3) and encoding/xml would read as text.
const bom = "\xEF\xBB\xBF"

// reader reads the tokens of one document within Limits.
type reader struct {
	d    *xml.Decoder
	in   *capReader // nil when reading from memory
	lim  Limits
	skew int64 // bytes before what d reads (a dropped byte order mark)

	tok      token
	open     int  // elements started and not yet ended
	started  bool // a token has been read: no XML declaration any more
	rootSeen bool // the root element has started
	err      error
}

// newReader reads from r, at most lim.MaxBytes of it; more is a
// *DecodeError wrapping tooLarge.
func newReader(r io.Reader, lim Limits, tooLarge error) *reader {
	z := &reader{lim: lim, in: &capReader{r: r, max: lim.MaxBytes, tooLarge: tooLarge}}
	br := bufio.NewReaderSize(z.in, 32<<10)
	if b, _ := br.Peek(len(bom)); string(b) == bom {
		_, _ = br.Discard(len(bom))
		z.skew = int64(len(bom))
	}
	z.d = newXMLDecoder(br)
	return z
}

// newBytesReader reads data, all of it.
func newBytesReader(data []byte, lim Limits) *reader {
	z := &reader{lim: lim}
	if rest, ok := bytes.CutPrefix(data, []byte(bom)); ok {
		data, z.skew = rest, int64(len(bom))
	}
	z.d = newXMLDecoder(bytes.NewReader(data))
	return z
}

func newXMLDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	// The defaults, said out loud: they are what makes it safe.
	d.Strict = true
	d.Entity = nil
	d.CharsetReader = nil
	d.AutoClose = nil
	return d
}

// offset is where reading stands, for errors.
func (z *reader) offset() int64 { return z.skew + z.d.InputOffset() }

// fail records and returns err as a *DecodeError at the current offset.
func (z *reader) fail(err error) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		off := z.offset()
		if z.in != nil && errors.Is(err, z.in.tooLarge) {
			off = z.in.max
		}
		err = &DecodeError{Offset: off, Err: err}
	}
	z.err = err
	return err
}

func (z *reader) failf(format string, args ...any) error {
	return z.fail(fmt.Errorf(format, args...))
}

// next returns the next token. After tokEOF or an error it keeps returning
// the same.
func (z *reader) next() (*token, error) {
	if z.err != nil {
		return nil, z.err
	}
	for {
		t, err := z.d.Token()
		if err != nil {
			if err == io.EOF {
				if !z.rootSeen {
					return nil, z.failf("no root element")
				}
				// Token refuses an end of input inside an element itself.
				z.tok = token{kind: tokEOF}
				return &z.tok, nil
			}
			return nil, z.fail(err)
		}
		first := !z.started
		z.started = true
		switch t := t.(type) {
		case xml.StartElement:
			if z.rootSeen && z.open == 0 {
				return nil, z.failf("a second root element <%.40s>", t.Name.Local)
			}
			if err := z.checkStart(&t); err != nil {
				return nil, err
			}
			z.rootSeen = true
			z.open++
			if z.open > z.lim.MaxDepth {
				return nil, z.failf("elements nested deeper than %d", z.lim.MaxDepth)
			}
			z.tok = token{kind: tokStart, name: xname{t.Name.Space, t.Name.Local}, attrs: t.Attr}
			return &z.tok, nil
		case xml.EndElement:
			z.open--
			z.tok = token{kind: tokEnd, name: xname{t.Name.Space, t.Name.Local}}
			return &z.tok, nil
		case xml.CharData:
			if z.open == 0 {
				if len(trimSpace(t)) > 0 {
					return nil, z.failf("text outside the root element")
				}
				continue
			}
			z.tok = token{kind: tokText, text: t}
			return &z.tok, nil
		case xml.ProcInst:
			// The Decoder checks the declaration's version and encoding
			// wherever it stands; XML allows it only first.
			if strings.EqualFold(t.Target, "xml") && !first {
				return nil, z.failf("an XML declaration that is not at the start of the message")
			}
			if len(t.Target) > z.lim.MaxName {
				return nil, z.failf("name longer than %d bytes", z.lim.MaxName)
			}
			if !utf8.Valid(t.Inst) {
				return nil, z.failf("invalid UTF-8 in a processing instruction")
			}
		case xml.Directive:
			return nil, z.failf("a DOCTYPE or other declaration (<!%.20s…>): refused, no DTD is read", strings.ToValidUTF8(string(t), "?"))
		case xml.Comment:
			// The Decoder checks text and attributes, not comments.
			if !utf8.Valid(t) {
				return nil, z.failf("invalid UTF-8 in a comment")
			}
		}
	}
}

// checkStart applies the limits to a start tag: its name, the number and
// size of its attributes, and that no attribute is given twice.
func (z *reader) checkStart(t *xml.StartElement) error {
	if len(t.Name.Local) > z.lim.MaxName {
		return z.failf("name longer than %d bytes", z.lim.MaxName)
	}
	if len(t.Attr) > z.lim.MaxAttrs {
		return z.failf("<%s> has more than %d attributes", t.Name.Local, z.lim.MaxAttrs)
	}
	for i := range t.Attr {
		a := &t.Attr[i]
		if len(a.Name.Local) > z.lim.MaxName {
			return z.failf("name longer than %d bytes", z.lim.MaxName)
		}
		if len(a.Value) > z.lim.MaxAttrBytes {
			return z.failf("attribute %s of <%s> longer than %d bytes", a.Name.Local, t.Name.Local, z.lim.MaxAttrBytes)
		}
	}
	if dup := duplicateAttr(t.Attr); dup >= 0 {
		return z.failf("attribute %s given twice in <%s>", t.Attr[dup].Name.Local, t.Name.Local)
	}
	return nil
}

// duplicateAttr returns the index of an attribute whose namespace and local
// name an earlier one has, or -1. Past a few attributes it uses a map, so
// that a tag costs linear time in its attributes.
func duplicateAttr(attrs []xml.Attr) int {
	const linear = 16
	if len(attrs) <= linear {
		for i := 1; i < len(attrs); i++ {
			for j := range i {
				if attrs[i].Name == attrs[j].Name {
					return i
				}
			}
		}
		return -1
	}
	seen := make(map[xml.Name]struct{}, len(attrs))
	for i, a := range attrs {
		if _, ok := seen[a.Name]; ok {
			return i
		}
		seen[a.Name] = struct{}{}
	}
	return -1
}

// mark starts a new segment of the input (see capReader.seg): the
// streaming decoder marks the start and the end of each row.
func (z *reader) mark() {
	if z.in != nil {
		z.in.segStart = z.in.n
	}
}

// capReader reads at most max bytes of r; the byte after them is an error
// wrapping tooLarge. With seg set, it also reads at most seg bytes after
// the last mark (segStart), and a read beyond them is ErrRowTooLarge.
//
// A mark is set at what has been read, which is ahead of what the XML
// decoder has consumed by at most its read buffer; so a stretch of the
// message is refused only when it is longer than seg, and always when it
// is longer than seg and the buffer.
type capReader struct {
	r             io.Reader
	n, max        int64
	tooLarge      error
	seg, segStart int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, c.tooLarge
	}
	// One byte more than allowed tells a message of exactly max bytes
	// from a longer one.
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	if c.seg > 0 {
		// No byte more here: a mark may come before the decoder needs it.
		room := c.segStart + c.seg - c.n
		if room <= 0 {
			return 0, ErrRowTooLarge
		}
		if int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n - int(c.n-c.max), c.tooLarge
	}
	return n, err
}

// xmlSpace is XML's whitespace (production S): space, tab, CR and LF. Other
// Unicode spaces are text, and may be part of a name.
const xmlSpace = " \t\r\n"

// trimSpace returns b without leading and trailing XML whitespace.
func trimSpace(b []byte) []byte { return bytes.Trim(b, xmlSpace) }
