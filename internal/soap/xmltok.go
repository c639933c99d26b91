package soap

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// This file is the decoder's XML tokenizer: a streaming reader of one
// XML 1.0 document held in memory, made for what the decoder needs and
// nothing more. It yields start tags (names resolved to their namespace,
// attributes in order), end tags (checked against their start tag) and
// character data (entity-decoded, CDATA included), and it checks
// well-formedness as it goes:
//
//   - exactly one root element; outside it only whitespace, comments and
//     processing instructions, and the XML declaration at the very start
//     (version 1.0, encoding UTF-8 or none; a UTF-8 byte order mark may
//     precede it);
//   - a DOCTYPE is refused: no DTD is ever read, so the only entities are
//     XML's five predefined ones and character references, and those must
//     name characters XML allows;
//   - the whole input is valid UTF-8 of XML characters, comments and
//     processing instructions included;
//   - names follow the Name production of XML 1.0 (fifth edition), and
//     have at most one colon;
//   - attributes are quoted, separated by whitespace, without '<', and not
//     given twice (by namespace and local name);
//   - comments hold no "--", and text no "]]>".
//
// Names and plain text are slices of the input: nothing is copied unless an
// entity or a carriage return must be decoded. Namespaces resolve as in
// encoding/xml, which the decoder was first written against: an undeclared
// prefix stands for itself (the decoder relies on it for xsi:), xml: is
// always the XML namespace, xmlns declarations are reported as attributes
// in the space "xmlns" (or as the attribute xmlns), a name with its colon
// first or last has no prefix, and attribute values are not
// whitespace-normalized (line ends are: CR LF and CR read as LF). Unlike
// encoding/xml, an unprefixed element named xmlns is in the default
// namespace. xmltok_test.go lists every difference from encoding/xml and
// checks it by fuzzing.
//
// Every token costs a constant factor of the input it was read from, and
// so does reading it: Limits.MaxName bounds a name, Limits.MaxAttrs the
// attributes of one element, decoded text is never longer than its source,
// namespace lookups and duplicate checks take constant time per name.

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
	// prefix itself when it is undeclared, "xmlns" for a namespace
	// declaration.
	space string
	// local is the name without its prefix: a slice of the input, valid
	// as long as the input.
	local []byte
}

// is reports whether the local name is local.
func (n xname) is(local string) bool { return string(n.local) == local }

// xattr is one attribute of a start tag.
type xattr struct {
	name xname
	// value is the decoded value, valid until the next token.
	value []byte
	bind  int // the binding its prefix resolved to, or -1
}

// token is what tokenizer.next returns. It is reused: its attributes and
// text are valid until the next call, its names as long as the input. Only
// the fields of its kind are set; the others hold what an earlier token
// left (writing fewer pointers per token is measurably faster).
type token struct {
	kind  tokenKind
	name  xname   // tokStart and tokEnd
	attrs []xattr // tokStart
	text  []byte  // tokText
	// stable tells that text is a slice of the input, valid as long as it.
	stable bool
}

// attr returns the value of the attribute local in namespace space ("" for
// an unqualified attribute), or nil.
func (t *token) attr(space, local string) []byte {
	for i := range t.attrs {
		a := &t.attrs[i]
		// An undeclared xsi: prefix stands for itself; it can only mean
		// the schema-instance namespace.
		if a.name.is(local) && (a.name.space == space || space == NamespaceXSI && a.name.space == "xsi") {
			return a.value
		}
	}
	return nil
}

// xmlRule names the rule of XML an input broke. Tests use it to tell the
// tokenizer's deliberate strictness from a bug.
type xmlRule uint8

const (
	ruleSyntax      xmlRule = iota // any other well-formedness error
	ruleEOF                        // the input ends inside markup or an element
	ruleUTF8                       // invalid UTF-8
	ruleChar                       // a character XML 1.0 does not allow
	ruleCharRef                    // a character reference to a character XML does not allow
	ruleEntity                     // an unknown or malformed entity or character reference
	ruleName                       // a missing or malformed name
	ruleAttrSpace                  // no whitespace before an attribute
	ruleDupAttr                    // an attribute given twice
	ruleDoctype                    // a DOCTYPE declaration
	ruleDecl                       // a malformed or misplaced XML declaration, or an encoding other than UTF-8
	rulePI                         // a processing instruction's target not followed by whitespace or ?>
	ruleOutsideRoot                // text, a reference, CDATA or a second element outside the root element
	ruleLimit                      // a name or an attribute list beyond Limits
)

// xmlError is a well-formedness error, carried by a *DecodeError.
type xmlError struct {
	rule xmlRule
	msg  string
}

func (e *xmlError) Error() string { return e.msg }

// xmlURL is the namespace the prefix xml: is always bound to.
const xmlURL = "http://www.w3.org/XML/1998/namespace"

// linearBinds is how many namespace bindings are searched linearly; past
// it, an index keeps every lookup constant-time whatever the input.
const linearBinds = 32

// tokenizer reads the tokens of one document from memory.
type tokenizer struct {
	in       []byte
	pos      int // next byte to read
	maxName  int
	maxAttrs int

	tok        token
	err        error // sticky: once set, every call returns it
	pendingEnd bool  // the last start tag was an empty-element tag
	rootSeen   bool  // the root element has started
	declAt     int   // where an XML declaration may stand: 0, or 3 after a BOM

	open  []openElem          // elements started and not yet ended
	binds []nsBind            // namespace bindings in scope, innermost last
	index map[string]int      // prefix → innermost binding, once binds outgrew linearBinds
	ids   map[string]int32    // namespace → its number, for comparing namespaces in constant time
	spans []attrSpan          // the current start tag's attributes as read
	attrs []xattr             // the current start tag's attributes, resolved
	seen  []int32             // duplicate's hash table: attribute index + 1
	abuf  []byte              // decoded attribute values that needed decoding
	tbuf  []byte              // decoded text that needed decoding
	strs  [internSlots]string // recent strings made by str, to share repeats
}

// openElem is an element whose end tag has not been read. It holds
// offsets rather than slices: fewer pointers to write per element.
type openElem struct {
	space      string // the namespace of its name
	start, end int    // its name as written, in[start:end], which the end tag must repeat
	local      int    // where its local name starts
	mark       int    // len(binds) before the element's own declarations
}

// nsBind binds a prefix ("" for the default namespace) to a namespace.
type nsBind struct {
	prefix []byte
	uri    string
	prev   int   // the binding of the same prefix this one shadows, or -1
	id     int32 // the uri's number from nsID, 0 until needed
}

// attrSpan is an attribute as read, before its name is resolved.
type attrSpan struct {
	at            int // offset of its name, for errors
	prefix, local []byte
	vs, ve        int  // the value: in[vs:ve], or abuf[vs:ve] when inBuf
	inBuf         bool // the value needed decoding
}

// reset makes z read in, within the limits of lim (with its defaults).
func (z *tokenizer) reset(in []byte, lim Limits) {
	*z = tokenizer{in: in, maxName: lim.MaxName, maxAttrs: lim.MaxAttrs}
	if hasPrefix(in, "\xEF\xBB\xBF") {
		// A byte order mark is allowed before a UTF-8 document (XML 1.0
		// section 4.3.3 and appendix F) and is no part of it.
		z.pos, z.declAt = 3, 3
	}
}

// offset is where reading stands, for errors.
func (z *tokenizer) offset() int64 { return int64(z.pos) }

// fail records and returns a well-formedness error at offset off.
func (z *tokenizer) fail(off int, rule xmlRule, format string, args ...any) error {
	z.err = &DecodeError{Offset: int64(off), Err: &xmlError{rule: rule, msg: fmt.Sprintf(format, args...)}}
	return z.err
}

// eof fails at the end of the input, inside what.
func (z *tokenizer) eof(what string) error {
	return z.fail(len(z.in), ruleEOF, "unexpected end of message in %s", what)
}

// next returns the next token. After tokEOF or an error it keeps returning
// the same.
func (z *tokenizer) next() (*token, error) {
	if z.err != nil {
		return nil, z.err
	}
	if z.pendingEnd {
		z.pendingEnd = false
		return z.closeElement(), nil
	}
	in := z.in
	for {
		if z.pos >= len(in) {
			if n := len(z.open); n > 0 {
				el := &z.open[n-1]
				return nil, z.fail(z.pos, ruleEOF, "unexpected end of message inside <%.64s>", in[el.start:el.end])
			}
			if !z.rootSeen {
				return nil, z.fail(z.pos, ruleEOF, "no root element")
			}
			z.tok.kind = tokEOF
			return &z.tok, nil
		}
		if in[z.pos] != '<' {
			if len(z.open) == 0 {
				if err := z.misc(); err != nil {
					return nil, err
				}
				continue
			}
			return z.text()
		}
		if z.pos+1 >= len(in) {
			return nil, z.eof("markup")
		}
		switch in[z.pos+1] {
		case '/':
			return z.endTag()
		case '?':
			if err := z.procInst(); err != nil {
				return nil, err
			}
			continue
		case '!':
			rest := in[z.pos:]
			switch {
			case hasPrefix(rest, "<!--"):
				if err := z.comment(); err != nil {
					return nil, err
				}
				continue
			case hasPrefix(rest, "<![CDATA["):
				if len(z.open) == 0 {
					return nil, z.fail(z.pos, ruleOutsideRoot, "CDATA section outside the root element")
				}
				return z.cdata()
			case hasPrefix(rest, "<!DOCTYPE"):
				return nil, z.fail(z.pos, ruleDoctype, "DOCTYPE is not allowed: no DTD is read and no entity declared")
			}
			return nil, z.fail(z.pos, ruleSyntax, "<! starts neither a comment nor a CDATA section")
		}
		return z.startTag()
	}
}

// misc skips whitespace outside the root element, up to the next '<'.
func (z *tokenizer) misc() error {
	for ; z.pos < len(z.in); z.pos++ {
		switch z.in[z.pos] {
		case ' ', '\t', '\n', '\r':
		case '<':
			return nil
		default:
			where := "before"
			if z.rootSeen {
				where = "after"
			}
			return z.fail(z.pos, ruleOutsideRoot, "text %s the root element", where)
		}
	}
	return nil
}

// skipSpace skips XML whitespace and reports whether there was any.
func (z *tokenizer) skipSpace() bool {
	start := z.pos
	for z.pos < len(z.in) && charClass[z.in[z.pos]]&cSpace != 0 {
		z.pos++
	}
	return z.pos > start
}

// name reads a Name at z.pos. It returns it split like encoding/xml: at its
// colon when there is one with text on both sides, else whole as local.
// colons is how many colons it has; names of elements and attributes may
// have one at most, which callers check.
func (z *tokenizer) name(what string) (prefix, local []byte, colons int, err error) {
	in := z.in
	start, colon := z.pos, -1
	i := start
	// Reading one byte past the longest name tells a name too long.
	end := min(len(in), start+z.maxName+1)
	for i < end {
		c := in[i]
		if c < utf8.RuneSelf {
			cl := charClass[c]
			if cl&cName == 0 || i == start && cl&cNameStart == 0 {
				break
			}
			if c == ':' {
				colons++
				colon = i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && n == 1 {
			return nil, nil, 0, z.fail(i, ruleUTF8, "invalid UTF-8 in a name")
		}
		if i == start && !isNameStartRune(r) || !isNameRune(r) {
			break
		}
		i += n
	}
	if i-start > z.maxName {
		return nil, nil, 0, z.fail(start, ruleLimit, "name longer than %d bytes", z.maxName)
	}
	if i == start {
		if i >= len(in) {
			return nil, nil, 0, z.eof("markup")
		}
		return nil, nil, 0, z.fail(i, ruleName, "expected %s, found %s", what, quoteAt(in, i))
	}
	z.pos = i
	if colons == 1 && colon > start && colon < i-1 {
		return in[start:colon], in[colon+1 : i], 1, nil
	}
	return nil, in[start:i], colons, nil
}

// qname reads the name of an element or attribute: at most one colon.
func (z *tokenizer) qname(what string) (prefix, local []byte, err error) {
	start := z.pos
	prefix, local, colons, err := z.name(what)
	if err == nil && colons > 1 {
		err = z.fail(start, ruleName, "name %.64q has more than one colon", z.in[start:z.pos])
	}
	return prefix, local, err
}

// startTag reads <name attr="value"...> or <name .../>.
func (z *tokenizer) startTag() (*token, error) {
	in := z.in
	if z.rootSeen && len(z.open) == 0 {
		return nil, z.fail(z.pos, ruleOutsideRoot, "a second root element")
	}
	z.pos++ // <
	rawStart := z.pos
	prefix, local, err := z.qname("an element name after <")
	if err != nil {
		return nil, err
	}
	raw := in[rawStart:z.pos]
	z.spans, z.abuf = z.spans[:0], z.abuf[:0]
	empty := false
	for {
		spaced := z.skipSpace()
		if z.pos >= len(in) {
			return nil, z.eof("a start tag")
		}
		c := in[z.pos]
		if c == '>' {
			z.pos++
			break
		}
		if c == '/' {
			if z.pos+1 < len(in) && in[z.pos+1] == '>' {
				z.pos += 2
				empty = true
				break
			}
			return nil, z.fail(z.pos, ruleSyntax, "expected /> in the tag <%.64s>", raw)
		}
		if !spaced {
			if z.nameStartsAt(z.pos) {
				return nil, z.fail(z.pos, ruleAttrSpace, "no whitespace before an attribute in the tag <%.64s>", raw)
			}
			return nil, z.fail(z.pos, ruleSyntax, "unexpected %s in the tag <%.64s>", quoteAt(in, z.pos), raw)
		}
		if len(z.spans) >= z.maxAttrs {
			return nil, z.fail(z.pos, ruleLimit, "more than %d attributes in the tag <%.64s>", z.maxAttrs, raw)
		}
		at := z.pos
		ap, al, err := z.qname("an attribute name")
		if err != nil {
			return nil, err
		}
		z.skipSpace()
		if z.pos >= len(in) {
			return nil, z.eof("a start tag")
		}
		if in[z.pos] != '=' {
			return nil, z.fail(z.pos, ruleSyntax, "attribute %.64s without a value", in[at:z.pos])
		}
		z.pos++
		z.skipSpace()
		if z.pos >= len(in) {
			return nil, z.eof("a start tag")
		}
		q := in[z.pos]
		if q != '"' && q != '\'' {
			return nil, z.fail(z.pos, ruleSyntax, "value of attribute %.64s is not quoted", in[at:z.pos])
		}
		z.pos++
		s := attrSpan{at: at, prefix: ap, local: al}
		if s.vs, s.ve, s.inBuf, err = z.attrValue(q); err != nil {
			return nil, err
		}
		z.spans = append(z.spans, s)
	}

	// Declarations first: they apply to the element's own name and to
	// all its attributes, wherever they stand among them.
	mark := len(z.binds)
	for i := range z.spans {
		s := &z.spans[i]
		switch {
		case s.prefix == nil && string(s.local) == "xmlns":
			z.bind(nil, z.str(z.spanValue(s)))
		case string(s.prefix) == "xmlns":
			z.bind(s.local, z.str(z.spanValue(s)))
		}
	}
	space, _ := z.space(prefix)
	name := xname{space: space, local: local}
	z.attrs = z.attrs[:0]
	for i := range z.spans {
		s := &z.spans[i]
		a := xattr{name: xname{local: s.local}, value: z.spanValue(s), bind: -1}
		if s.prefix != nil {
			a.name.space, a.bind = z.space(s.prefix)
		}
		z.attrs = append(z.attrs, a)
	}
	if i := z.duplicate(); i >= 0 {
		return nil, z.fail(z.spans[i].at, ruleDupAttr, "attribute %.64s given twice in the tag <%.64s>", z.spans[i].local, raw)
	}
	z.open = append(z.open, openElem{space: name.space, start: rawStart, end: rawStart + len(raw), local: rawStart + len(raw) - len(local), mark: mark})
	z.rootSeen = true
	z.pendingEnd = empty
	z.tok.kind, z.tok.name, z.tok.attrs = tokStart, name, z.attrs
	return &z.tok, nil
}

// duplicate returns the index of an attribute of z.attrs whose namespace
// and local name an earlier one has, or -1. Past a few attributes it
// hashes, so that a tag costs linear time in its attributes; namespaces
// compare by number, so that a long one costs its length once, not once
// per tag.
func (z *tokenizer) duplicate() int {
	attrs := z.attrs
	if len(attrs) <= 8 {
		for i := 1; i < len(attrs); i++ {
			for j := range i {
				if bytes.Equal(attrs[j].name.local, attrs[i].name.local) && z.sameSpace(&attrs[j], &attrs[i]) {
					return i
				}
			}
		}
		return -1
	}
	size := 16
	for size < 2*len(attrs) {
		size *= 2
	}
	if cap(z.seen) < size {
		z.seen = make([]int32, size)
	}
	seen := z.seen[:size]
	clear(seen)
	for i := range attrs {
		a := &attrs[i]
		h := uint32(2166136261) ^ uint32(z.nsID(a)) // FNV-1a of the local name
		for _, c := range a.name.local {
			h = (h ^ uint32(c)) * 16777619
		}
		for k := h & uint32(size-1); ; k = (k + 1) & uint32(size-1) {
			j := seen[k] - 1
			if j < 0 {
				seen[k] = int32(i) + 1
				break
			}
			if b := &attrs[j]; bytes.Equal(b.name.local, a.name.local) && z.nsID(b) == z.nsID(a) {
				return i
			}
		}
	}
	return -1
}

// sameSpace reports whether two attributes are in the same namespace.
func (z *tokenizer) sameSpace(a, b *xattr) bool {
	switch {
	case a.bind >= 0 && a.bind == b.bind:
		return true
	case a.bind < 0 && b.bind < 0:
		// No namespace, xml:, xmlns: or an undeclared prefix: short.
		return a.name.space == b.name.space
	}
	return z.nsID(a) == z.nsID(b)
}

// nsID numbers the namespace of a: equal namespaces, equal numbers. A
// binding's namespace is hashed once, when first needed.
func (z *tokenizer) nsID(a *xattr) int32 {
	if a.bind < 0 {
		return z.number(a.name.space)
	}
	b := &z.binds[a.bind]
	if b.id == 0 {
		b.id = z.number(b.uri)
	}
	return b.id
}

func (z *tokenizer) number(space string) int32 {
	if z.ids == nil {
		z.ids = make(map[string]int32)
	}
	id, ok := z.ids[space]
	if !ok {
		id = int32(len(z.ids)) + 1
		z.ids[space] = id
	}
	return id
}

// nameStartsAt reports whether a name starts at in[i].
func (z *tokenizer) nameStartsAt(i int) bool {
	c := z.in[i]
	if c < utf8.RuneSelf {
		return charClass[c]&cNameStart != 0
	}
	r, _ := utf8.DecodeRune(z.in[i:])
	return isNameStartRune(r)
}

func (z *tokenizer) spanValue(s *attrSpan) []byte {
	if s.inBuf {
		return z.abuf[s.vs:s.ve:s.ve]
	}
	return z.in[s.vs:s.ve:s.ve]
}

// endTag reads </name>, which must close the innermost open element.
func (z *tokenizer) endTag() (*token, error) {
	in := z.in
	lt := z.pos
	z.pos += 2
	if n := len(z.open); n > 0 {
		// The common case: the innermost element's name, checked at its
		// start tag, then '>'.
		el := &z.open[n-1]
		if end := z.pos + el.end - el.start; end < len(in) && in[end] == '>' && string(in[z.pos:end]) == string(in[el.start:el.end]) {
			z.pos = end + 1
			return z.closeElement(), nil
		}
	}
	rawStart := z.pos
	if _, _, err := z.qname("an element name after </"); err != nil {
		return nil, err
	}
	raw := in[rawStart:z.pos]
	z.skipSpace()
	if z.pos >= len(in) {
		return nil, z.eof("an end tag")
	}
	if in[z.pos] != '>' {
		return nil, z.fail(z.pos, ruleSyntax, "expected > after </%.64s", raw)
	}
	z.pos++
	n := len(z.open)
	if n == 0 {
		return nil, z.fail(lt, ruleSyntax, "unexpected end tag </%.64s>", raw)
	}
	if el := &z.open[n-1]; !bytes.Equal(in[el.start:el.end], raw) {
		return nil, z.fail(lt, ruleSyntax, "element <%.64s> closed by </%.64s>", in[el.start:el.end], raw)
	}
	return z.closeElement(), nil
}

// closeElement ends the innermost open element and drops its bindings.
func (z *tokenizer) closeElement() *token {
	n := len(z.open) - 1
	el := &z.open[n]
	if len(z.binds) > el.mark {
		z.unbind(el.mark)
	}
	z.tok.kind = tokEnd
	z.tok.name = xname{space: el.space, local: z.in[el.local:el.end:el.end]}
	z.open = z.open[:n]
	return &z.tok
}

// bind declares prefix for the current element.
func (z *tokenizer) bind(prefix []byte, uri string) {
	z.binds = append(z.binds, nsBind{prefix: prefix, uri: uri, prev: z.lookup(prefix)})
	switch {
	case z.index != nil:
		z.index[string(prefix)] = len(z.binds) - 1
	case len(z.binds) > linearBinds:
		z.index = make(map[string]int, 2*linearBinds)
		for i, b := range z.binds {
			z.index[string(b.prefix)] = i
		}
	}
}

// unbind drops the bindings from mark on.
func (z *tokenizer) unbind(mark int) {
	if z.index != nil {
		for i := len(z.binds) - 1; i >= mark; i-- {
			if b := z.binds[i]; b.prev >= 0 {
				z.index[string(b.prefix)] = b.prev
			} else {
				delete(z.index, string(b.prefix))
			}
		}
	}
	z.binds = z.binds[:mark]
}

// lookup returns the innermost binding of prefix, or -1.
func (z *tokenizer) lookup(prefix []byte) int {
	if z.index != nil {
		if i, ok := z.index[string(prefix)]; ok {
			return i
		}
		return -1
	}
	for i := len(z.binds) - 1; i >= 0; i-- {
		if bytes.Equal(z.binds[i].prefix, prefix) {
			return i
		}
	}
	return -1
}

// space resolves the prefix of a name (nil for none: the default
// namespace, which the caller skips for attributes). bind is the binding
// it resolved to, or -1.
func (z *tokenizer) space(prefix []byte) (space string, bind int) {
	switch string(prefix) {
	case "xmlns":
		return "xmlns", -1
	case "xml":
		return xmlURL, -1
	}
	if i := z.lookup(prefix); i >= 0 {
		return z.binds[i].uri, i
	}
	if prefix == nil {
		return "", -1
	}
	// Undeclared: the prefix stands for itself, as in encoding/xml.
	return z.str(prefix), -1
}

// attrValue reads an attribute value up to its closing quote q, which it
// consumes. The value is in[vs:ve], or abuf[vs:ve] if it needed decoding.
func (z *tokenizer) attrValue(q byte) (vs, ve int, inBuf bool, err error) {
	in := z.in
	start := z.pos
	for i := start; i < len(in); {
		c := in[i]
		if charClass[c]&cAttr != 0 {
			i++
			continue
		}
		switch {
		case c == q:
			z.pos = i + 1
			return start, i, false, nil
		case c == '"' || c == '\'':
			i++
		case c == '&' || c == '\r':
			b0 := len(z.abuf)
			buf, end, err := z.decodeData(z.abuf, start, i, q)
			if err != nil {
				return 0, 0, false, err
			}
			z.abuf = buf
			z.pos = end + 1
			return b0, len(buf), true, nil
		default:
			n, err := z.char(i, q)
			if err != nil {
				return 0, 0, false, err
			}
			i += n
		}
	}
	return 0, 0, false, z.eof("an attribute value")
}

// text reads character data up to the next '<' or the end of the input.
func (z *tokenizer) text() (*token, error) {
	in := z.in
	start := z.pos
	i := start
	for i < len(in) {
		c := in[i]
		if charClass[c]&cText != 0 {
			i++
			continue
		}
		if c == '<' {
			break
		}
		if c == '&' || c == '\r' {
			buf, end, err := z.decodeData(z.tbuf[:0], start, i, 0)
			if err != nil {
				return nil, err
			}
			z.tbuf, z.pos = buf, end
			z.tok.kind, z.tok.text, z.tok.stable = tokText, buf, false
			return &z.tok, nil
		}
		n, err := z.char(i, 0)
		if err != nil {
			return nil, err
		}
		i += n
	}
	z.pos = i
	z.tok.kind, z.tok.text, z.tok.stable = tokText, in[start:i:i], true
	return &z.tok, nil
}

// char checks the character at in[i] that the fast paths of text and
// attrValue leave out, other than '<', '&' and CR, and returns its size.
// quote is the quote of an attribute value, 0 in text.
func (z *tokenizer) char(i int, quote byte) (int, error) {
	in := z.in
	switch c := in[i]; {
	case c == '<':
		return 0, z.fail(i, ruleSyntax, "< inside an attribute value")
	case c == ']':
		if quote == 0 && hasPrefix(in[i:], "]]>") {
			return 0, z.fail(i, ruleSyntax, "]]> outside a CDATA section")
		}
		return 1, nil
	case c < utf8.RuneSelf:
		if charClass[c]&cChar != 0 {
			return 1, nil
		}
		return 0, z.fail(i, ruleChar, "character %U is not allowed in XML", rune(c))
	}
	r, n := utf8.DecodeRune(in[i:])
	if r == utf8.RuneError && n == 1 {
		return 0, z.fail(i, ruleUTF8, "invalid UTF-8")
	}
	if !isXMLChar(r) {
		return 0, z.fail(i, ruleChar, "character %U is not allowed in XML", r)
	}
	return n, nil
}

// decodeData is the slow path of text and attribute values: in[start:i] is
// plain and in[i] is the first entity or CR. It appends the decoded data up
// to the delimiter (the quote, or '<' or the end of input in text) to buf,
// and returns it with the delimiter's offset.
func (z *tokenizer) decodeData(buf []byte, start, i int, quote byte) ([]byte, int, error) {
	in := z.in
	run := start // in[run:i] is plain and not yet appended
	for i < len(in) {
		c := in[i]
		if charClass[c]&cPlain != 0 {
			i++
			continue
		}
		if quote != 0 && c == quote || quote == 0 && c == '<' {
			return append(buf, in[run:i]...), i, nil
		}
		switch c {
		case '&':
			buf = append(buf, in[run:i]...)
			r, n, err := z.reference(i)
			if err != nil {
				return nil, 0, err
			}
			buf = utf8.AppendRune(buf, r)
			i += n
			run = i
		case '\r':
			// Line ends read as LF (XML 1.0 section 2.11).
			buf = append(buf, in[run:i]...)
			buf = append(buf, '\n')
			i++
			if i < len(in) && in[i] == '\n' {
				i++
			}
			run = i
		default:
			n, err := z.char(i, quote)
			if err != nil {
				return nil, 0, err
			}
			i += n
		}
	}
	if quote != 0 {
		return nil, 0, z.eof("an attribute value")
	}
	return append(buf, in[run:i]...), i, nil
}

// reference reads the entity or character reference at in[i] ('&') and
// returns the character it stands for and its length.
func (z *tokenizer) reference(i int) (rune, int, error) {
	in := z.in
	j := i + 1
	if j < len(in) && in[j] == '#' {
		j++
		base := 10
		if j < len(in) && in[j] == 'x' {
			base = 16
			j++
		}
		digits, v := j, 0
		for ; j < len(in); j++ {
			d := hexDigit(in[j])
			if d < 0 || d >= base {
				break
			}
			if v <= utf8.MaxRune {
				v = v*base + d
			}
		}
		if j == digits || j >= len(in) || in[j] != ';' {
			return 0, 0, z.fail(i, ruleEntity, "malformed character reference %s", quoteSpan(in, i, j+1))
		}
		if v > utf8.MaxRune || !isXMLChar(rune(v)) {
			return 0, 0, z.fail(i, ruleCharRef, "character reference %s is not an XML character", quoteSpan(in, i, j+1))
		}
		return rune(v), j + 1 - i, nil
	}
	rest := in[j:]
	for _, e := range predefined {
		if hasPrefix(rest, e.name) {
			return e.r, 1 + len(e.name), nil
		}
	}
	end := j
	for end < len(in) && end-j < 32 && in[end] != ';' && charClass[in[end]]&cName != 0 {
		end++
	}
	return 0, 0, z.fail(i, ruleEntity, "unknown entity %s: only the five of XML are defined", quoteSpan(in, i, end+1))
}

// predefined are XML's own entities, with their semicolons.
var predefined = [...]struct {
	name string
	r    rune
}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// cdata reads <![CDATA[ … ]]> as one text token.
func (z *tokenizer) cdata() (*token, error) {
	start := z.pos + len("<![CDATA[")
	end := bytes.Index(z.in[start:], []byte("]]>"))
	if end < 0 {
		return nil, z.eof("a CDATA section")
	}
	end += start
	cr, err := z.checkChars(start, end)
	if err != nil {
		return nil, err
	}
	z.pos = end + len("]]>")
	data := z.in[start:end:end]
	if !cr {
		z.tok.kind, z.tok.text, z.tok.stable = tokText, data, true
		return &z.tok, nil
	}
	buf := z.tbuf[:0]
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] != '\r':
			buf = append(buf, data[i])
		case i+1 < len(data) && data[i+1] == '\n':
			// CR LF reads as LF: skip the CR.
		default:
			buf = append(buf, '\n')
		}
	}
	z.tbuf = buf
	z.tok.kind, z.tok.text, z.tok.stable = tokText, buf, false
	return &z.tok, nil
}

// comment skips <!-- … -->, which holds no "--".
func (z *tokenizer) comment() error {
	start := z.pos + len("<!--")
	end := bytes.Index(z.in[start:], []byte("--"))
	if end < 0 {
		return z.eof("a comment")
	}
	end += start
	if end+2 >= len(z.in) {
		return z.eof("a comment")
	}
	if z.in[end+2] != '>' {
		return z.fail(end, ruleSyntax, `"--" inside a comment`)
	}
	if _, err := z.checkChars(start, end); err != nil {
		return err
	}
	z.pos = end + len("-->")
	return nil
}

// procInst skips a processing instruction, and reads the XML declaration.
func (z *tokenizer) procInst() error {
	in := z.in
	lt := z.pos
	z.pos += 2
	ts := z.pos
	if _, _, _, err := z.name("a target name after <?"); err != nil {
		return err
	}
	target := in[ts:z.pos]
	if bytes.EqualFold(target, []byte("xml")) {
		if lt != z.declAt || string(target) != "xml" {
			return z.fail(lt, ruleDecl, "<?%s is reserved to the XML declaration at the start of the message", target)
		}
		return z.xmlDecl()
	}
	if hasPrefix(in[z.pos:], "?>") {
		z.pos += 2
		return nil
	}
	if !z.skipSpace() {
		if z.pos >= len(in) {
			return z.eof("a processing instruction")
		}
		return z.fail(z.pos, rulePI, "expected whitespace or ?> after <?%.64s", target)
	}
	end := bytes.Index(in[z.pos:], []byte("?>"))
	if end < 0 {
		return z.eof("a processing instruction")
	}
	end += z.pos
	if _, err := z.checkChars(z.pos, end); err != nil {
		return err
	}
	z.pos = end + 2
	return nil
}

// xmlDecl reads the XML declaration after <?xml, up to the first ?>:
// version 1.0, then optionally encoding (UTF-8 only: the decoder reads
// nothing else) and standalone, in that order.
func (z *tokenizer) xmlDecl() error {
	end := bytes.Index(z.in[z.pos:], []byte("?>"))
	if end < 0 {
		return z.eof("the XML declaration")
	}
	end += z.pos
	in := z.in[:end] // nothing of the declaration reads past its end
	seen := 0        // of the pseudo-attributes in order: 1 version, 2 encoding, 3 standalone
	for {
		spaced := z.skipSpace()
		if z.pos == end {
			if seen == 0 {
				return z.fail(z.pos, ruleDecl, "XML declaration without a version")
			}
			z.pos += 2
			return nil
		}
		if !spaced {
			return z.fail(z.pos, ruleDecl, "malformed XML declaration")
		}
		at := z.pos
		for z.pos < end && 'a' <= in[z.pos] && in[z.pos] <= 'z' {
			z.pos++
		}
		order := 0
		switch string(in[at:z.pos]) {
		case "version":
			order = 1
		case "encoding":
			order = 2
		case "standalone":
			order = 3
		}
		if order <= seen || seen == 0 && order != 1 {
			return z.fail(at, ruleDecl, "malformed XML declaration")
		}
		seen = order
		z.skipSpace()
		if z.pos >= end || in[z.pos] != '=' {
			return z.fail(z.pos, ruleDecl, "malformed XML declaration")
		}
		z.pos++
		z.skipSpace()
		if z.pos >= end || in[z.pos] != '"' && in[z.pos] != '\'' {
			return z.fail(z.pos, ruleDecl, "malformed XML declaration")
		}
		vs := z.pos + 1
		ve := bytes.IndexByte(in[vs:], in[z.pos])
		if ve < 0 {
			return z.fail(z.pos, ruleDecl, "malformed XML declaration")
		}
		ve += vs
		value := in[vs:ve]
		z.pos = ve + 1
		switch order {
		case 1:
			if string(value) != "1.0" {
				return z.fail(vs, ruleDecl, "XML version %.16q: only 1.0 is read", value)
			}
		case 2:
			if !bytes.EqualFold(value, []byte("utf-8")) {
				return z.fail(vs, ruleDecl, "encoding %.32q declared: only UTF-8 is read", value)
			}
		case 3:
			if string(value) != "yes" && string(value) != "no" {
				return z.fail(vs, ruleDecl, "standalone %.16q is neither yes nor no", value)
			}
		}
	}
}

// checkChars checks that in[i:end] is UTF-8 of XML characters, and
// reports whether it holds a CR.
func (z *tokenizer) checkChars(i, end int) (cr bool, err error) {
	in := z.in[:end]
	for i < end {
		c := in[i]
		if c < utf8.RuneSelf {
			if charClass[c]&cChar == 0 {
				if c != '\r' {
					return false, z.fail(i, ruleChar, "character %U is not allowed in XML", rune(c))
				}
				cr = true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && n == 1 {
			return false, z.fail(i, ruleUTF8, "invalid UTF-8")
		}
		if !isXMLChar(r) {
			return false, z.fail(i, ruleChar, "character %U is not allowed in XML", r)
		}
		i += n
	}
	return cr, nil
}

// hasPrefix reports whether b begins with s.
func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// quoteAt quotes the character at in[i] for an error message.
func quoteAt(in []byte, i int) string {
	r, _ := utf8.DecodeRune(in[i:])
	return fmt.Sprintf("%q", r)
}

// quoteSpan quotes in[i:j], cut to what exists and to 40 bytes.
func quoteSpan(in []byte, i, j int) string {
	j = min(j, len(in), i+40)
	return fmt.Sprintf("%q", in[i:j])
}

// Classes of bytes, for the tokenizer's fast paths.
const (
	cSpace     = 1 << iota // XML whitespace
	cNameStart             // an ASCII byte that may start a name
	cName                  // an ASCII byte that may be in a name
	cChar                  // an ASCII XML character other than CR
	cText                  // an ASCII byte plain in text: a character, not < & ] or CR
	cAttr                  // an ASCII byte plain in attribute values: a character, not < & " ' or CR
	cPlain                 // plain in both: a character, not < & ] " ' or CR
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		var k uint8
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			k |= cSpace | cChar
		case c == '\r':
			k |= cSpace
		case c >= 0x20:
			k |= cChar
		}
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == ':':
			k |= cNameStart | cName
		case '0' <= c && c <= '9', c == '-', c == '.':
			k |= cName
		}
		if k&cChar != 0 && c != '<' && c != '&' {
			if c != ']' {
				k |= cText
			}
			if c != '"' && c != '\'' {
				k |= cAttr
			}
			if k&cText != 0 && k&cAttr != 0 {
				k |= cPlain
			}
		}
		t[c] = k
	}
	return t
}()

// isNameStartRune is NameStartChar of XML 1.0 (fifth edition) outside
// ASCII; the table above covers ASCII.
func isNameStartRune(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return charClass[r]&cNameStart != 0
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune is NameChar of XML 1.0 (fifth edition).
func isNameRune(r rune) bool {
	if r < utf8.RuneSelf {
		return charClass[r]&cName != 0
	}
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}

// internSlots is the size of the tokenizer's cache of recent strings.
const internSlots = 64

// str returns b as a string: one of the words every message repeats
// without allocating, else the same string as a recent equal b.
func (z *tokenizer) str(b []byte) string {
	if s, ok := z.cached(b); ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInterned {
		z.strs[slot(b)] = s
	}
	return s
}

// cached returns the string equal to b if it is one of the known words or
// a recent string of str, without allocating.
func (z *tokenizer) cached(b []byte) (string, bool) {
	if s, ok := known(b); ok {
		return s, true
	}
	if len(b) <= maxInterned {
		if s := z.strs[slot(b)]; s == string(b) {
			return s, true
		}
	}
	return "", false
}

// maxInterned is the longest string str remembers.
const maxInterned = 32

// slot hashes b (FNV-1a) to a slot of tokenizer.strs.
func slot(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h % internSlots
}

// known returns the constant equal to b, for the names, namespaces, types
// and values that recur in every message.
func known(b []byte) (string, bool) {
	switch string(b) {
	case "":
		return "", true
	case NamespaceSOAP11:
		return NamespaceSOAP11, true
	case NamespaceSOAP12:
		return NamespaceSOAP12, true
	case NamespaceAPI:
		return NamespaceAPI, true
	case NamespaceCore:
		return NamespaceCore, true
	case NamespaceXS:
		return NamespaceXS, true
	case NamespaceXSI:
		return NamespaceXSI, true
	case xmlURL:
		return xmlURL, true
	case "xsi":
		return "xsi", true
	case "xs":
		return "xs", true
	case CodeSuccess:
		return CodeSuccess, true
	case CodeOutOfLimit:
		return CodeOutOfLimit, true
	case "true":
		return "true", true
	case "false":
		return "false", true
	case "ResultCode":
		return "ResultCode", true
	case "ResultData":
		return "ResultData", true
	case "xs:string":
		return "xs:string", true
	case "xs:decimal":
		return "xs:decimal", true
	case "xs:boolean":
		return "xs:boolean", true
	case "xs:dateTime":
		return "xs:dateTime", true
	case "xs:date":
		return "xs:date", true
	case "xs:base64Binary":
		return "xs:base64Binary", true
	case "Null":
		return "Null", true
	}
	return "", false
}
