package soap

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits bound what the decoder accepts from a peer, so that hostile input
// costs at most a constant factor of its own size. Zero fields take defaults.
type Limits struct {
	// MaxDepth is the deepest element nesting accepted. Defaults to 64; the
	// deepest legitimate message (a table inside a structure inside a table
	// inside the envelope) is under 20.
	MaxDepth int
	// MaxValues is the most Value elements (cells and properties) accepted
	// in one message. Defaults to 4,000,000.
	MaxValues int
	// MaxText is the longest character data of one element, in bytes.
	// Defaults to 64 MiB (a base64 file body is one element).
	MaxText int
	// MaxAttrs is the most attributes of one element, namespace
	// declarations included. Defaults to 256; the API's messages have at
	// most five.
	MaxAttrs int
	// MaxAttrBytes is the longest attribute value, in bytes, namespace
	// declarations included. Defaults to 4,096; the API's longest are its
	// namespace URIs and property names, under 100.
	MaxAttrBytes int
	// MaxName is the longest element or attribute name, without its
	// prefix, in bytes. Defaults to 1,024.
	MaxName int
	// MaxBytes is the longest message DecodeResponse and DecodeRequest
	// read from their io.Reader, in bytes. Defaults to 128 MiB, room for a
	// text of MaxText's default length. DecodeResponseBytes and
	// DecodeRequestBytes decode what they are given. The Client sets it
	// to Config.MaxResponseBytes.
	MaxBytes int64
	// MaxRowBytes is, for DecodeResponseRows, the longest row of the
	// streamed table in bytes, and the longest stretch of the message
	// outside its rows (the envelope, ResultCode and the columns before
	// them, the end after them): what the decoder may hold at once, give
	// or take its 32 KiB read buffer. Longer is a *DecodeError wrapping
	// ErrRowTooLarge. Defaults to 1 MiB; a directory row is about 1 KiB.
	// The other decoders do not use it.
	MaxRowBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
	if l.MaxValues <= 0 {
		l.MaxValues = 4_000_000
	}
	if l.MaxText <= 0 {
		l.MaxText = 64 << 20
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = 256
	}
	if l.MaxAttrBytes <= 0 {
		l.MaxAttrBytes = 4096
	}
	if l.MaxName <= 0 {
		l.MaxName = 1024
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 128 << 20
	}
	if l.MaxRowBytes <= 0 {
		l.MaxRowBytes = 1 << 20
	}
	return l
}

// DecodeResponse reads a SOAP 1.1 or 1.2 response of PartnerWebAPI2 from r
// as it arrives, to its end and at most Limits.MaxBytes of it (more is a
// *DecodeError wrapping ErrResponseTooLarge); see DecodeResponseBytes.
func DecodeResponse(r io.Reader, lim Limits) (*Response, error) {
	lim = lim.withDefaults()
	return decodeResponse(newDecoder(newReader(r, lim, ErrResponseTooLarge), lim))
}

// DecodeResponseBytes reads a SOAP 1.1 or 1.2 response of PartnerWebAPI2.
// A SOAP Fault comes back as a *FaultError, anything that is not a
// well-formed response as a *DecodeError. A ResultCode other than SUCCESS
// is not an error here: the Response carries it (see Response.Err). The
// Response shares no memory with data.
func DecodeResponseBytes(data []byte, lim Limits) (*Response, error) {
	lim = lim.withDefaults()
	return decodeResponse(newDecoder(newBytesReader(data, lim), lim))
}

// DecodeResponseRows reads a response from r as it arrives, as
// DecodeResponse does, but hands each row of its ResultData table to each
// as soon as the row is decoded instead of keeping it, so that an answer
// of any number of rows costs the memory of one (Limits.MaxRowBytes) plus
// the decoder's state. The Response it returns has no rows: its Data is
// the table's columns (Data.Table.Rows is nil), or the ResultData as
// DecodeResponse reads it when that is not a ValueTable.
//
// each gets the table's columns (the same slice every time) and the row,
// one cell per column: row is reused for the next row, so each must copy
// what it keeps of it (its Values' strings may be kept as they are). An
// error from each stops the decoding; DecodeResponseRows returns it
// wrapped, naming the row. Rows before a malformed one have been handed
// over when the *DecodeError comes.
//
// It is stricter than DecodeResponse where streaming needs it: every
// column must come before the first row (the service writes them so),
// and a row with more or fewer cells than columns is a *DecodeError.
// Properties of the return Structure other than the first ResultCode and
// ResultData are skipped, not decoded. Values are counted against
// Limits.MaxValues per row and outside the rows, not across the message.
func DecodeResponseRows(r io.Reader, lim Limits, each func(cols []Column, row []Value) error) (*Response, error) {
	return decodeResponseRows(r, lim, "", each)
}

// decodeResponseRows is DecodeResponseRows for an answer of operation op:
// an answer of another is a *DecodeError before any row is handed over
// ("" takes any).
func decodeResponseRows(r io.Reader, lim Limits, op string, each func(cols []Column, row []Value) error) (*Response, error) {
	if each == nil {
		return nil, errors.New("soap: decode rows: no function to hand the rows to")
	}
	lim = lim.withDefaults()
	z := newReader(r, lim, ErrResponseTooLarge)
	z.in.seg = lim.MaxRowBytes
	dc := newDecoder(z, lim)
	dc.each, dc.wantOp = each, op
	return decodeResponse(dc)
}

// rowsStopped is the error of a row function, which stops decoding.
type rowsStopped struct {
	row int // from 1
	err error
}

func (e *rowsStopped) Error() string {
	return fmt.Sprintf("soap: rows stopped at row %d: %v", e.row, e.err)
}

func (e *rowsStopped) Unwrap() error { return e.err }

func decodeResponse(dc *decoder) (*Response, error) {
	_, body, err := dc.envelope()
	if err != nil {
		return nil, err
	}
	if body.is("Fault") && isEnvelopeNS(body.space) {
		f, err := dc.fault()
		if err == nil {
			err = dc.finish()
		}
		if err != nil {
			return nil, err
		}
		return nil, f
	}
	op, ok := strings.CutSuffix(body.local, "Response")
	if !ok || op == "" {
		return nil, dc.errorf("body element <%s> is not an operation's response", body.local)
	}
	if dc.wantOp != "" && op != dc.wantOp {
		return nil, dc.errorf("answer is for operation %s", op)
	}
	resp := &Response{Op: op}
	seenReturn := false
	for {
		t, err := dc.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokStart:
			if t.name.is("return") && !seenReturn {
				seenReturn = true
				if err := dc.result(resp); err != nil {
					return nil, err
				}
				continue
			}
			name := t.name
			text, err := dc.text(name)
			if err != nil {
				return nil, err
			}
			resp.Extra = append(resp.Extra, Property{Name: name.local, Value: Value{Kind: KindString, Text: text}})
		case tokEnd:
			if !seenReturn {
				return nil, dc.errorf("%sResponse has no return element", op)
			}
			if err := dc.finish(); err != nil {
				return nil, err
			}
			return resp, nil
		}
	}
}

// DecodeRequest reads a request envelope from r as it arrives, to its end
// and at most Limits.MaxBytes of it; see DecodeRequestBytes.
func DecodeRequest(r io.Reader, lim Limits) (Version, *Request, error) {
	lim = lim.withDefaults()
	return decodeRequest(newDecoder(newReader(r, lim, errRequestTooLarge), lim))
}

// errRequestTooLarge is wrapped by the *DecodeError of a request longer
// than Limits.MaxBytes.
var errRequestTooLarge = errors.New("soap: request larger than the configured cap")

// DecodeRequestBytes reads a request envelope, as a server does: the
// operation is the body's element, its input either Params or plain
// children. The Request shares no memory with data.
func DecodeRequestBytes(data []byte, lim Limits) (Version, *Request, error) {
	lim = lim.withDefaults()
	return decodeRequest(newDecoder(newBytesReader(data, lim), lim))
}

func decodeRequest(dc *decoder) (Version, *Request, error) {
	v, body, err := dc.envelope()
	if err != nil {
		return v, nil, err
	}
	req := &Request{Op: body.local}
	for {
		t, err := dc.next()
		if err != nil {
			return v, nil, err
		}
		switch t.kind {
		case tokStart:
			if t.name.is("Params") && req.Children == nil {
				p, err := dc.value(t, "Structure", false)
				if err != nil {
					return v, nil, err
				}
				if p.Kind == KindNil {
					p = Struct()
				}
				if p.Kind != KindStructure && p.Kind != KindTable {
					return v, nil, dc.errorf("%s: Params is %s, want a Structure or a ValueTable", req.Op, p.Kind)
				}
				req.Params = p
				continue
			}
			name := t.name
			text, err := dc.text(name)
			if err != nil {
				return v, nil, err
			}
			req.Children = append(req.Children, Property{Name: name.local, Value: String(text)})
		case tokEnd:
			if req.Children == nil && req.Params.Kind == KindNil {
				req.Params = Struct()
			}
			if err := dc.finish(); err != nil {
				return v, nil, err
			}
			return v, req, nil
		}
	}
}

// RowResult is one row of a packet's per-row result table.
type RowResult struct {
	Code string
	Data Value
}

// Rows reads a packet's per-row results: a ValueTable with columns
// ResultCode and ResultData, one row per input row in input order. Fewer
// rows than were sent means the rest were not processed. Every row must
// have one cell per column and a string ResultCode that is not empty;
// anything else is a *DecodeError, since a row whose cells are shifted
// would otherwise give another row's data as its code.
func (r *Response) Rows() ([]RowResult, error) { return r.rows(-1) }

// RowsFor is Rows for a packet of sent rows: an answer with more rows
// than were sent is a *DecodeError too.
func (r *Response) RowsFor(sent int) ([]RowResult, error) { return r.rows(sent) }

func (r *Response) rows(sent int) ([]RowResult, error) {
	bad := func(format string, args ...any) error {
		return &DecodeError{Op: r.Op, Err: fmt.Errorf("packet result: "+format, args...)}
	}
	if r.Data.Kind != KindTable || r.Data.Table == nil {
		return nil, bad("%s, want a ValueTable of ResultCode and ResultData", r.Data.Kind)
	}
	t := r.Data.Table
	ci, di := t.Column("ResultCode"), t.Column("ResultData")
	if ci < 0 {
		return nil, bad("no ResultCode column")
	}
	if sent >= 0 && len(t.Rows) > sent {
		return nil, bad("%d rows for a packet of %d", len(t.Rows), sent)
	}
	out := make([]RowResult, len(t.Rows))
	for i, row := range t.Rows {
		if len(row) != len(t.Columns) {
			return nil, bad("row %d has %d cells for %d columns", i+1, len(row), len(t.Columns))
		}
		if c := row[ci]; c.Kind != KindString || c.Text == "" {
			return nil, bad("row %d: ResultCode is %s %q, want a result code", i+1, c.Kind, snippetString(c.Text))
		}
		out[i].Code = row[ci].Text
		if di >= 0 {
			out[i].Data = row[di]
		}
	}
	return out, nil
}

// snippetString cuts s to 40 bytes of valid UTF-8, for an error message.
func snippetString(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.ToValidUTF8(s, "?")
}

// Err returns nil when the call succeeded, else a *ResultError with the
// code and reason the service gave.
func (r *Response) Err() error {
	if r.Code == CodeSuccess {
		return nil
	}
	reason := r.Data.Text
	if r.Data.Kind == KindStructure || r.Data.Kind == KindTable {
		reason = fmt.Sprint(r.Data.Interface())
	}
	return &ResultError{Op: r.Op, Code: r.Code, Reason: reason}
}

// decoder walks the tokens of one message, counting values.
type decoder struct {
	z      *reader
	lim    Limits
	values int
	buf    []byte  // text of one element that came in pieces
	lbuf   []byte  // texts of the leaves being read
	stack  []Value // cells of the rows being read, innermost row last
	slab   []Value // the chunk that finished rows are cut from
	strs   [internSlots]string

	// The texts of the cells of the rows being read gather in rowText,
	// to become one string per row.
	rowText  []byte
	rowSpans []textSpan
	pending  textSpan // the text value last left in rowText, if pending.cell >= 0

	// each, when set, is DecodeResponseRows' row function: the rows of
	// the return's first ResultData table go to it, not into the Table.
	each func(cols []Column, row []Value) error
	// wantOp, when set, is the operation the answer must be for.
	wantOp string
	// streamNext tells value that the Value it reads is the ResultData
	// whose table is streamed.
	streamNext bool
}

// textSpan is where the text of the cell at stack[cell] is in rowText.
type textSpan struct{ cell, start, end int }

func newDecoder(z *reader, lim Limits) *decoder {
	return &decoder{z: z, lim: lim, pending: textSpan{cell: -1}}
}

func (dc *decoder) errorf(format string, args ...any) error {
	return &DecodeError{Err: fmt.Errorf(format, args...), Offset: dc.z.offset()}
}

// next returns the next token of the message; the end of the document is
// an error, as the decoder reads within the root element.
func (dc *decoder) next() (*token, error) {
	t, err := dc.z.next()
	if err == nil && t.kind == tokEOF {
		return nil, dc.errorf("unexpected end of message")
	}
	return t, err
}

// finish reads the rest of the message once its content is decoded: what
// is left of the open elements is skipped, and the message must end there,
// well-formed.
func (dc *decoder) finish() error {
	for {
		t, err := dc.z.next()
		if err != nil || t.kind == tokEOF {
			return err
		}
	}
}

// envelope reads up to the first element inside Body.
func (dc *decoder) envelope() (Version, xname, error) {
	var v Version
	root, err := dc.start()
	if err != nil {
		return v, root, err
	}
	if !root.is("Envelope") || !isEnvelopeNS(root.space) {
		return v, root, dc.errorf("root element is <%.40s> in %.80q, want a SOAP Envelope", root.local, root.space)
	}
	if root.space == NamespaceSOAP12 {
		v = SOAP12
	}
	for {
		el, err := dc.start()
		if err != nil {
			return v, el, err
		}
		switch {
		case el.is("Header"):
			if err := dc.skip(); err != nil {
				return v, el, err
			}
		case el.is("Body"):
			body, err := dc.start()
			return v, body, err
		default:
			return v, el, dc.errorf("unexpected <%.40s> in the Envelope", el.local)
		}
	}
}

// start returns the name of the next start element, skipping whitespace;
// an end element or non-space text is an error.
func (dc *decoder) start() (xname, error) {
	for {
		t, err := dc.next()
		if err != nil {
			return xname{}, err
		}
		switch t.kind {
		case tokStart:
			return t.name, nil
		case tokEnd:
			return xname{}, dc.errorf("unexpected </%.40s>", t.name.local)
		case tokText:
			if len(trimSpace(t.text)) > 0 {
				return xname{}, dc.errorf("unexpected text")
			}
		}
	}
}

// skip consumes the rest of the current element.
func (dc *decoder) skip() error {
	for depth := 1; depth > 0; {
		t, err := dc.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		}
	}
	return nil
}

// textBytes reads the character data of the current element, named name,
// up to its end; child elements are skipped. The result is dc.buf, valid
// until the next call: a token's text is the XML decoder's buffer, which
// its next token overwrites.
func (dc *decoder) textBytes(name xname) ([]byte, error) {
	dc.buf = dc.buf[:0]
	for {
		t, err := dc.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokText:
			if len(dc.buf)+len(t.text) > dc.lim.MaxText {
				return nil, dc.errorf("text of <%.40s> longer than %d bytes", name.local, dc.lim.MaxText)
			}
			dc.buf = append(dc.buf, t.text...)
		case tokStart:
			if err := dc.skip(); err != nil {
				return nil, err
			}
		case tokEnd:
			return dc.buf, nil
		}
	}
}

// text is textBytes as a string. The common case, one run of text and
// the end (a long base64 file among them), is copied once, straight from
// the XML decoder's buffer, rather than gathered first.
func (dc *decoder) text(name xname) (string, error) {
	dc.buf = dc.buf[:0]
	var first string
	single := false // first holds the only run of text so far
	for {
		t, err := dc.next()
		if err != nil {
			return "", err
		}
		switch t.kind {
		case tokText:
			if len(first)+len(dc.buf)+len(t.text) > dc.lim.MaxText {
				return "", dc.errorf("text of <%.40s> longer than %d bytes", name.local, dc.lim.MaxText)
			}
			switch {
			case !single && len(dc.buf) == 0:
				first, single = dc.str(t.text), true
			case single:
				dc.buf = append(append(dc.buf, first...), t.text...)
				first, single = "", false
			default:
				dc.buf = append(dc.buf, t.text...)
			}
		case tokStart:
			if err := dc.skip(); err != nil {
				return "", err
			}
		case tokEnd:
			if single {
				return first, nil
			}
			return dc.str(dc.buf), nil
		}
	}
}

// result reads the return Structure: ResultCode and ResultData properties.
func (dc *decoder) result(resp *Response) error {
	if dc.each != nil {
		return dc.streamResult(resp)
	}
	props, err := dc.properties()
	if err != nil {
		return err
	}
	code, ok := Struct(props...).Prop("ResultCode")
	if !ok {
		return dc.errorf("%sResponse has no ResultCode", resp.Op)
	}
	resp.Code = code.Text
	resp.Data, _ = Struct(props...).Prop("ResultData")
	return nil
}

// properties reads Property children up to the end of the current element.
func (dc *decoder) properties() ([]Property, error) {
	var props []Property
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return props, err
		}
		if !el.name.is("Property") {
			if err := dc.skip(); err != nil {
				return nil, err
			}
			continue
		}
		p := Property{Name: el.attr("", "name")}
		if p.Value, err = dc.propertyValue(); err != nil {
			return nil, err
		}
		props = append(props, p)
	}
}

// propertyValue reads the children of a Property up to its end: the
// first Value is its value, anything else is skipped.
func (dc *decoder) propertyValue() (Value, error) {
	var v Value
	found := false
	for {
		el, end, err := dc.child()
		if err != nil {
			return Value{}, err
		}
		if end {
			return v, nil
		}
		if !el.name.is("Value") || found {
			if err := dc.skip(); err != nil {
				return Value{}, err
			}
			continue
		}
		found = true
		if v, err = dc.value(el, "", false); err != nil {
			return Value{}, err
		}
	}
}

// streamResult is result for DecodeResponseRows: the first ResultCode is
// read, the first ResultData is read with its table's rows streamed (see
// streamTable), and every other child is skipped, so that nothing but
// those two can make the decoder hold more than the rows' budget.
func (dc *decoder) streamResult(resp *Response) error {
	code, data := false, false
	for {
		el, end, err := dc.child()
		if err != nil {
			return err
		}
		if end {
			break
		}
		name := ""
		if el.name.is("Property") {
			name = el.attr("", "name")
		}
		switch {
		case name == "ResultCode" && !code:
			code = true
			v, err := dc.propertyValue()
			if err != nil {
				return err
			}
			resp.Code = v.Text
		case name == "ResultData" && !data:
			data = true
			dc.streamNext = true
			v, err := dc.propertyValue()
			dc.streamNext = false
			if err != nil {
				return err
			}
			resp.Data = v
		default:
			if err := dc.skip(); err != nil {
				return err
			}
		}
	}
	if !code {
		return dc.errorf("%sResponse has no ResultCode", resp.Op)
	}
	return nil
}

// child returns the next child element of the current element, or end=true
// at its end tag. Text between children is ignored. The token is valid
// until the next read.
func (dc *decoder) child() (el *token, end bool, err error) {
	for {
		t, err := dc.next()
		if err != nil {
			return nil, false, err
		}
		switch t.kind {
		case tokStart:
			return t, false, nil
		case tokEnd:
			return nil, true, nil
		}
	}
}

// value reads one Value (or Params) element, whose start tag is start.
// declared is the type a value without xsi:type takes: its column's type
// inside a table, "" elsewhere (then such a value is a string, or a
// Structure when it has children). A cell of a row (inRow) may leave its
// text in rowText, for row to make it part of the row's string; then
// pending says where.
func (dc *decoder) value(start *token, declared string, inRow bool) (Value, error) {
	// Only the ResultData Value itself is streamed, not a table inside it.
	stream := dc.streamNext
	dc.streamNext = false
	dc.values++
	if dc.values > dc.lim.MaxValues {
		return Value{}, dc.errorf("more than %d values", dc.lim.MaxValues)
	}
	// The start tag is valid until the next read: take what is needed of
	// it first.
	if start.attr(NamespaceXSI, "nil") == "true" {
		return Value{}, dc.skip()
	}
	var kind Kind
	typeName := ""
	if t := start.attr(NamespaceXSI, "type"); t != "" {
		if kind = kindOf(t); kind == KindOther {
			typeName = t
		}
	} else {
		kind = kindOf(declared)
	}
	name := start.name
	switch kind {
	case KindTable:
		if stream {
			t, err := dc.streamTable()
			return Value{Kind: KindTable, Table: t}, err
		}
		t, err := dc.table()
		return Value{Kind: KindTable, Table: t}, err
	case KindStructure:
		props, err := dc.properties()
		return Value{Kind: KindStructure, Props: props}, err
	}
	text, err := dc.textBytes(name)
	if err != nil {
		return Value{}, err
	}
	switch kind {
	case KindNil: // xsi:type="Null"
		return Value{}, nil
	case KindString, KindOther:
	default:
		text = trimSpace(text)
	}
	v := Value{Kind: kind, TypeName: typeName}
	if s, ok := dc.cached(text); ok || !inRow {
		v.Text = s
		if !ok {
			v.Text = dc.str(text)
		}
		return v, nil
	}
	dc.pending.start = len(dc.rowText)
	dc.rowText = append(dc.rowText, text...)
	dc.pending.cell, dc.pending.end = 0, len(dc.rowText)
	return v, nil
}

// kindOf maps an xsi:type (or a column's declared type) to the kind of
// value it reads as: KindNil for Null, KindOther for types not known here.
func kindOf(typeName string) Kind {
	local := typeName
	if i := strings.LastIndexByte(local, ':'); i >= 0 {
		local = local[i+1:]
	}
	switch local {
	case "", "string":
		return KindString
	case "decimal":
		return KindDecimal
	case "boolean":
		return KindBoolean
	case "dateTime":
		return KindDateTime
	case "date":
		return KindDate
	case "base64Binary":
		return KindBinary
	case "ValueTable":
		return KindTable
	case "Structure":
		return KindStructure
	case "Null":
		return KindNil
	}
	return KindOther
}

// table reads the columns and rows of a ValueTable. Cells map to columns
// by position; a cell without xsi:type takes its column's first type.
func (dc *decoder) table() (*Table, error) {
	t := &Table{}
	var declared []string
	for {
		el, end, err := dc.child()
		if err != nil {
			return nil, err
		}
		if end {
			return t, nil
		}
		switch {
		case el.name.is("column"):
			c, err := dc.column()
			if err != nil {
				return nil, err
			}
			t.Columns = append(t.Columns, c)
			declared = append(declared, firstType(c))
		case el.name.is("row"):
			row, err := dc.row(declared)
			if err != nil {
				return nil, err
			}
			t.Rows = append(t.Rows, row)
		default:
			if err := dc.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// streamTable reads a ValueTable whose rows go to dc.each one by one; the
// Table it returns has the columns only. Each row is a stretch of the
// input of its own under Limits.MaxRowBytes (the reader's segment), and
// its values count against MaxValues only while it is read.
func (dc *decoder) streamTable() (*Table, error) {
	t := &Table{}
	var declared []string
	n := 0 // rows handed over
	for {
		el, end, err := dc.child()
		if err != nil {
			return nil, err
		}
		if end {
			return t, nil
		}
		switch {
		case el.name.is("column"):
			if n > 0 {
				return nil, dc.errorf("a column after row %d: every column must come before the rows", n)
			}
			c, err := dc.column()
			if err != nil {
				return nil, err
			}
			t.Columns = append(t.Columns, c)
			declared = append(declared, firstType(c))
		case el.name.is("row"):
			n++
			dc.z.mark()
			values := dc.values
			cells, err := dc.cells(declared)
			if err != nil {
				return nil, err
			}
			if len(cells) != len(t.Columns) {
				return nil, dc.errorf("row %d has %d cells for %d columns", n, len(cells), len(t.Columns))
			}
			if err := dc.each(t.Columns, cells); err != nil {
				return nil, &rowsStopped{row: n, err: err}
			}
			clear(cells) // the row function has what it keeps
			dc.stack = dc.stack[:len(dc.stack)-len(cells)]
			dc.values = values
			dc.z.mark()
		default:
			if err := dc.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// firstType is the type a cell of column c without xsi:type takes: the
// first of its declared types that is not Null.
func firstType(c Column) string {
	for _, ty := range c.Type.Types {
		if ty != "Null" {
			return ty
		}
	}
	return ""
}

// row reads the cells of one row (see cells); the finished row is cut
// from a chunk that the message's rows share, so that a row costs one
// allocation at most.
func (dc *decoder) row(declared []string) ([]Value, error) {
	cells, err := dc.cells(declared)
	if err != nil || len(cells) == 0 {
		return nil, err
	}
	first := len(dc.stack) - len(cells)
	if cap(dc.slab)-len(dc.slab) < len(cells) {
		// Chunks double up to 128 cells (9 KiB): a row costs its share of
		// one, and a message wastes less than a chunk.
		dc.slab = make([]Value, 0, max(len(cells), min(2*cap(dc.slab), 128), 16))
	}
	n := len(dc.slab)
	dc.slab = append(dc.slab, cells...)
	clear(cells) // drop the stack's references to what the row now holds
	dc.stack = dc.stack[:first]
	return dc.slab[n:len(dc.slab):len(dc.slab)], nil
}

// cells reads the cells of one row onto dc.stack and returns them there
// (the top of the stack, valid until the stack changes). Their texts
// gather in dc.rowText (a cell may hold a table whose rows gather above
// them) and become one string for the row.
func (dc *decoder) cells(declared []string) ([]Value, error) {
	first, firstSpan, firstText := len(dc.stack), len(dc.rowSpans), len(dc.rowText)
	for {
		el, end, err := dc.child()
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		if !el.name.is("Value") {
			if err := dc.skip(); err != nil {
				return nil, err
			}
			continue
		}
		decl := ""
		if n := len(dc.stack) - first; n < len(declared) {
			decl = declared[n]
		}
		v, err := dc.value(el, decl, true)
		if err != nil {
			return nil, err
		}
		if dc.pending.cell >= 0 {
			dc.pending.cell = len(dc.stack)
			dc.rowSpans = append(dc.rowSpans, dc.pending)
			dc.pending.cell = -1
		}
		dc.stack = append(dc.stack, v)
	}
	cells := dc.stack[first:]
	if len(cells) == 0 {
		return nil, nil
	}
	if spans := dc.rowSpans[firstSpan:]; len(spans) > 0 {
		text := string(dc.rowText[firstText:])
		for _, sp := range spans {
			dc.stack[sp.cell].Text = text[sp.start-firstText : sp.end-firstText]
		}
		dc.rowSpans, dc.rowText = dc.rowSpans[:firstSpan], dc.rowText[:firstText]
	}
	return cells, nil
}

// column reads <column><Name/><ValueType>…</ValueType></column>.
func (dc *decoder) column() (Column, error) {
	var c Column
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return c, err
		}
		switch {
		case el.name.is("Name"):
			name, err := dc.textBytes(el.name)
			if err != nil {
				return c, err
			}
			c.Name = dc.str(trimSpace(name))
		case el.name.is("ValueType"):
			if c.Type, err = dc.valueType(); err != nil {
				return c, err
			}
		default:
			if err := dc.skip(); err != nil {
				return c, err
			}
		}
	}
}

func (dc *decoder) valueType() (ValueType, error) {
	var vt ValueType
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return vt, err
		}
		name := el.name
		if name.is("Type") {
			ty, err := dc.textBytes(name)
			if err != nil {
				return vt, err
			}
			vt.Types = append(vt.Types, dc.str(trimSpace(ty)))
			continue
		}
		var q leafSet
		if err := dc.leaves(&q); err != nil {
			return vt, err
		}
		switch {
		case name.is("StringQualifiers"):
			vt.String = &StringQualifiers{Length: atoi(q.get(dc, "Length")), Fixed: string(q.get(dc, "AllowedLength")) == "Fixed"}
		case name.is("NumberQualifiers"):
			vt.Number = &NumberQualifiers{Digits: atoi(q.get(dc, "Digits")), FractionDigits: atoi(q.get(dc, "FractionDigits")), Nonnegative: string(q.get(dc, "AllowedSign")) == "Nonnegative"}
		case name.is("DateQualifiers"):
			vt.Date = &DateQualifiers{Fractions: dc.str(q.get(dc, "DateFractions"))}
		}
	}
}

// leafSet holds the trimmed texts of up to eight distinct simple children,
// kept in dc.lbuf; a child of a name already seen replaces its text while
// fewer than eight names are held.
type leafSet struct {
	n     int
	names [8]string
	spans [8][2]int // of dc.lbuf
}

func (q *leafSet) get(dc *decoder, name string) []byte {
	for i := range q.n {
		if q.names[i] == name {
			return dc.lbuf[q.spans[i][0]:q.spans[i][1]]
		}
	}
	return nil
}

// leaves reads simple child elements into q.
func (dc *decoder) leaves(q *leafSet) error {
	dc.lbuf = dc.lbuf[:0]
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return err
		}
		name := el.name
		text, err := dc.textBytes(name)
		if err != nil {
			return err
		}
		if q.n < len(q.names) {
			i := 0
			for i < q.n && q.names[i] != name.local {
				i++
			}
			if i == q.n {
				q.names[i] = name.local
				q.n++
			}
			start := len(dc.lbuf)
			dc.lbuf = append(dc.lbuf, trimSpace(text)...)
			q.spans[i] = [2]int{start, len(dc.lbuf)}
		}
	}
}

// fault reads a SOAP 1.1 or 1.2 Fault into a *FaultError.
func (dc *decoder) fault() (*FaultError, error) {
	f := &FaultError{}
	for {
		el, end, err := dc.child()
		if err != nil {
			return nil, err
		}
		if end {
			return f, nil
		}
		name := el.name
		switch name.local {
		case "faultcode", "faultstring", "faultactor", "detail", "Node", "Role":
			text, err := dc.textBytes(name)
			if err != nil {
				return nil, err
			}
			switch name.local {
			case "faultcode":
				f.Code = string(trimSpace(text))
			case "faultstring":
				f.Reason = string(trimSpace(text))
			case "detail":
				f.Detail = string(trimSpace(text))
			}
		case "Code", "Reason", "Detail":
			text, err := dc.deepText()
			if err != nil {
				return nil, err
			}
			switch name.local {
			case "Code":
				f.Code = text
			case "Reason":
				f.Reason = text
			case "Detail":
				f.Detail = text
			}
		default:
			if err := dc.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// deepText joins the trimmed text of the current element and all its
// descendants with spaces.
func (dc *decoder) deepText() (string, error) {
	dc.buf = dc.buf[:0]
	size := 0
	for depth := 1; depth > 0; {
		t, err := dc.next()
		if err != nil {
			return "", err
		}
		switch t.kind {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		case tokText:
			if s := trimSpace(t.text); len(s) > 0 {
				size += len(s)
				if size > dc.lim.MaxText {
					return "", dc.errorf("fault text longer than %d bytes", dc.lim.MaxText)
				}
				if len(dc.buf) > 0 {
					dc.buf = append(dc.buf, ' ')
				}
				dc.buf = append(dc.buf, s...)
			}
		}
	}
	return string(dc.buf), nil
}

func isEnvelopeNS(ns string) bool { return ns == NamespaceSOAP11 || ns == NamespaceSOAP12 }

func atoi(s []byte) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// internSlots is the size of the decoder's cache of recent strings.
const internSlots = 64

// maxInterned is the longest string str remembers.
const maxInterned = 32

// str returns b as a string: one of the words every message repeats
// without allocating, else the same string as a recent equal b.
func (dc *decoder) str(b []byte) string {
	if s, ok := dc.cached(b); ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInterned {
		dc.strs[slot(b)] = s
	}
	return s
}

// cached returns the string equal to b if it is one of the known words or
// a recent string of str, without allocating.
func (dc *decoder) cached(b []byte) (string, bool) {
	if s, ok := known(b); ok {
		return s, true
	}
	if len(b) <= maxInterned {
		if s := dc.strs[slot(b)]; s == string(b) {
			return s, true
		}
	}
	return "", false
}

// slot hashes b (FNV-1a) to a slot of decoder.strs.
func slot(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h % internSlots
}

// known returns the constant equal to b, for the values and types that
// recur in every message.
func known(b []byte) (string, bool) {
	switch string(b) {
	case "":
		return "", true
	case CodeSuccess:
		return CodeSuccess, true
	case "true":
		return "true", true
	case "false":
		return "false", true
	case "xs:string":
		return "xs:string", true
	case "xs:decimal":
		return "xs:decimal", true
	case "xs:boolean":
		return "xs:boolean", true
	case "xs:dateTime":
		return "xs:dateTime", true
	case "Null":
		return "Null", true
	}
	return "", false
}
