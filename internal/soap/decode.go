package soap

import (
	"encoding/xml"
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
	return l
}

// DecodeResponse reads a SOAP 1.1 or 1.2 response of PartnerWebAPI2. A SOAP
// Fault comes back as a *FaultError, anything that is not a well-formed
// response as a *DecodeError. A ResultCode other than SUCCESS is not an error
// here: the Response carries it (see Response.Err).
func DecodeResponse(r io.Reader, lim Limits) (*Response, error) {
	dc := newDecoder(r, lim)
	_, body, err := dc.envelope()
	if err != nil {
		return nil, err
	}
	if body.Name.Local == "Fault" && isEnvelopeNS(body.Name.Space) {
		return nil, dc.fault()
	}
	op, ok := strings.CutSuffix(body.Name.Local, "Response")
	if !ok || op == "" {
		return nil, dc.errorf("body element <%s> is not an operation's response", body.Name.Local)
	}
	resp := &Response{Op: op}
	seenReturn := false
	for {
		tok, err := dc.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "return" && !seenReturn {
				seenReturn = true
				if err := dc.result(resp); err != nil {
					return nil, err
				}
				continue
			}
			text, err := dc.text(t)
			if err != nil {
				return nil, err
			}
			resp.Extra = append(resp.Extra, Property{Name: t.Name.Local, Value: Value{Kind: KindString, Text: text}})
		case xml.EndElement:
			if !seenReturn {
				return nil, dc.errorf("%sResponse has no return element", op)
			}
			return resp, nil
		}
	}
}

// DecodeRequest reads a request envelope, as a server does: the operation is
// the body's element, its input either Params or plain children.
func DecodeRequest(r io.Reader, lim Limits) (Version, *Request, error) {
	dc := newDecoder(r, lim)
	v, body, err := dc.envelope()
	if err != nil {
		return v, nil, err
	}
	req := &Request{Op: body.Name.Local}
	for {
		tok, err := dc.next()
		if err != nil {
			return v, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "Params" && req.Children == nil {
				p, err := dc.value(t, "Structure")
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
			text, err := dc.text(t)
			if err != nil {
				return v, nil, err
			}
			req.Children = append(req.Children, Property{Name: t.Name.Local, Value: String(text)})
		case xml.EndElement:
			if req.Children == nil && req.Params.Kind == KindNil {
				req.Params = Struct()
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
// rows than were sent means the rest were not processed.
func (r *Response) Rows() ([]RowResult, error) {
	if r.Data.Kind != KindTable || r.Data.Table == nil {
		return nil, &DecodeError{Op: r.Op, Err: fmt.Errorf("packet result is %s, want a ValueTable of ResultCode and ResultData", r.Data.Kind)}
	}
	t := r.Data.Table
	ci, di := t.Column("ResultCode"), t.Column("ResultData")
	if ci < 0 {
		return nil, &DecodeError{Op: r.Op, Err: errors.New("packet result has no ResultCode column")}
	}
	out := make([]RowResult, len(t.Rows))
	for i, row := range t.Rows {
		if ci < len(row) {
			out[i].Code = row[ci].Text
		}
		if di >= 0 && di < len(row) {
			out[i].Data = row[di]
		}
	}
	return out, nil
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

// decoder walks the token stream of one message, counting depth and values.
type decoder struct {
	d      *xml.Decoder
	lim    Limits
	depth  int
	values int
}

func newDecoder(r io.Reader, lim Limits) *decoder {
	d := xml.NewDecoder(r)
	d.Strict = true
	// The service speaks UTF-8 only; any other declared charset is refused
	// by encoding/xml when CharsetReader is nil.
	return &decoder{d: d, lim: lim.withDefaults()}
}

func (dc *decoder) errorf(format string, args ...any) error {
	return &DecodeError{Err: fmt.Errorf(format, args...), Offset: dc.d.InputOffset()}
}

// next returns the next token, tracking depth. Comments, processing
// instructions and directives are dropped: a DTD is never read, so its
// entities are never expanded.
func (dc *decoder) next() (xml.Token, error) {
	for {
		tok, err := dc.d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, dc.errorf("unexpected end of message")
			}
			var de *DecodeError
			if errors.As(err, &de) {
				return nil, err
			}
			return nil, &DecodeError{Err: err, Offset: dc.d.InputOffset()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			dc.depth++
			if dc.depth > dc.lim.MaxDepth {
				return nil, dc.errorf("elements nested deeper than %d", dc.lim.MaxDepth)
			}
			return t, nil
		case xml.EndElement:
			dc.depth--
			return t, nil
		case xml.CharData:
			return t, nil
		}
	}
}

// envelope reads up to the first element inside Body.
func (dc *decoder) envelope() (Version, xml.StartElement, error) {
	var v Version
	tok, err := dc.start()
	if err != nil {
		return v, tok, err
	}
	if tok.Name.Local != "Envelope" || !isEnvelopeNS(tok.Name.Space) {
		return v, tok, dc.errorf("root element is <%s> in %q, want a SOAP Envelope", tok.Name.Local, tok.Name.Space)
	}
	if tok.Name.Space == NamespaceSOAP12 {
		v = SOAP12
	}
	for {
		el, err := dc.start()
		if err != nil {
			return v, el, err
		}
		switch {
		case el.Name.Local == "Header":
			if err := dc.skip(); err != nil {
				return v, el, err
			}
		case el.Name.Local == "Body":
			body, err := dc.start()
			if err != nil {
				return v, body, err
			}
			return v, body, nil
		default:
			return v, el, dc.errorf("unexpected <%s> in the Envelope", el.Name.Local)
		}
	}
}

// start returns the next start element, skipping whitespace; an end
// element or non-space text is an error.
func (dc *decoder) start() (xml.StartElement, error) {
	for {
		tok, err := dc.next()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, dc.errorf("unexpected </%s>", t.Name.Local)
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) > 0 {
				return xml.StartElement{}, dc.errorf("unexpected text %.40q", string(t))
			}
		}
	}
}

// skip consumes the rest of the current element.
func (dc *decoder) skip() error {
	for depth := 1; depth > 0; {
		tok, err := dc.next()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// text reads the character data of the current element up to its end;
// child elements are skipped.
func (dc *decoder) text(start xml.StartElement) (string, error) {
	var sb strings.Builder
	for {
		tok, err := dc.next()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if sb.Len()+len(t) > dc.lim.MaxText {
				return "", dc.errorf("text of <%s> longer than %d bytes", start.Name.Local, dc.lim.MaxText)
			}
			sb.Write(t)
		case xml.StartElement:
			if err := dc.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return sb.String(), nil
		}
	}
}

// result reads the return Structure: ResultCode and ResultData properties.
func (dc *decoder) result(resp *Response) error {
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
		if el.Name.Local != "Property" {
			if err := dc.skip(); err != nil {
				return nil, err
			}
			continue
		}
		p := Property{Name: attr(el, "", "name")}
		found := false
		for {
			vel, vend, err := dc.child()
			if err != nil {
				return nil, err
			}
			if vend {
				break
			}
			if vel.Name.Local != "Value" || found {
				if err := dc.skip(); err != nil {
					return nil, err
				}
				continue
			}
			found = true
			if p.Value, err = dc.value(vel, ""); err != nil {
				return nil, err
			}
		}
		props = append(props, p)
	}
}

// child returns the next child element of the current element, or end=true
// at its end tag. Text between children is ignored.
func (dc *decoder) child() (el xml.StartElement, end bool, err error) {
	for {
		tok, err := dc.next()
		if err != nil {
			return el, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, false, nil
		case xml.EndElement:
			return el, true, nil
		}
	}
}

// value reads one Value (or Params) element. declared is the type a value
// without xsi:type takes: its column's type inside a table, "" elsewhere
// (then such a value is a string, or a Structure when it has children).
func (dc *decoder) value(start xml.StartElement, declared string) (Value, error) {
	dc.values++
	if dc.values > dc.lim.MaxValues {
		return Value{}, dc.errorf("more than %d values", dc.lim.MaxValues)
	}
	if attr(start, NamespaceXSI, "nil") == "true" {
		return Value{}, dc.skip()
	}
	typeName := attr(start, NamespaceXSI, "type")
	local := typeName
	if i := strings.LastIndexByte(local, ':'); i >= 0 {
		local = local[i+1:]
	}
	if typeName == "" {
		local = declared
		if i := strings.LastIndexByte(local, ':'); i >= 0 {
			local = local[i+1:]
		}
	}
	switch local {
	case "ValueTable":
		t, err := dc.table()
		return Value{Kind: KindTable, Table: t}, err
	case "Structure":
		props, err := dc.properties()
		return Value{Kind: KindStructure, Props: props}, err
	}
	text, err := dc.text(start)
	if err != nil {
		return Value{}, err
	}
	switch local {
	case "", "string":
		return Value{Kind: KindString, Text: text}, nil
	case "decimal":
		return Value{Kind: KindDecimal, Text: strings.TrimSpace(text)}, nil
	case "boolean":
		return Value{Kind: KindBoolean, Text: strings.TrimSpace(text)}, nil
	case "dateTime":
		return Value{Kind: KindDateTime, Text: strings.TrimSpace(text)}, nil
	case "date":
		return Value{Kind: KindDate, Text: strings.TrimSpace(text)}, nil
	case "base64Binary":
		return Value{Kind: KindBinary, Text: strings.TrimSpace(text)}, nil
	case "Null":
		return Value{}, nil
	}
	return Value{Kind: KindOther, TypeName: typeName, Text: text}, nil
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
		switch el.Name.Local {
		case "column":
			c, err := dc.column()
			if err != nil {
				return nil, err
			}
			t.Columns = append(t.Columns, c)
			first := ""
			for _, ty := range c.Type.Types {
				if ty != "Null" {
					first = ty
					break
				}
			}
			declared = append(declared, first)
		case "row":
			var row []Value
			for {
				cel, cend, err := dc.child()
				if err != nil {
					return nil, err
				}
				if cend {
					break
				}
				if cel.Name.Local != "Value" {
					if err := dc.skip(); err != nil {
						return nil, err
					}
					continue
				}
				decl := ""
				if len(row) < len(declared) {
					decl = declared[len(row)]
				}
				v, err := dc.value(cel, decl)
				if err != nil {
					return nil, err
				}
				row = append(row, v)
			}
			t.Rows = append(t.Rows, row)
		default:
			if err := dc.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// column reads <column><Name/><ValueType>…</ValueType></column>.
func (dc *decoder) column() (Column, error) {
	var c Column
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return c, err
		}
		switch el.Name.Local {
		case "Name":
			if c.Name, err = dc.text(el); err != nil {
				return c, err
			}
			c.Name = strings.TrimSpace(c.Name)
		case "ValueType":
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
		var q map[string]string
		if el.Name.Local != "Type" {
			if q, err = dc.leaves(); err != nil {
				return vt, err
			}
		}
		switch el.Name.Local {
		case "Type":
			ty, err := dc.text(el)
			if err != nil {
				return vt, err
			}
			vt.Types = append(vt.Types, strings.TrimSpace(ty))
		case "StringQualifiers":
			vt.String = &StringQualifiers{Length: atoi(q["Length"]), Fixed: q["AllowedLength"] == "Fixed"}
		case "NumberQualifiers":
			vt.Number = &NumberQualifiers{Digits: atoi(q["Digits"]), FractionDigits: atoi(q["FractionDigits"]), Nonnegative: q["AllowedSign"] == "Nonnegative"}
		case "DateQualifiers":
			vt.Date = &DateQualifiers{Fractions: q["DateFractions"]}
		}
	}
}

// leaves reads simple child elements into a map of name to trimmed text.
func (dc *decoder) leaves() (map[string]string, error) {
	m := map[string]string{}
	for {
		el, end, err := dc.child()
		if err != nil || end {
			return m, err
		}
		text, err := dc.text(el)
		if err != nil {
			return nil, err
		}
		if len(m) < 8 {
			m[el.Name.Local] = strings.TrimSpace(text)
		}
	}
}

// fault reads a SOAP 1.1 or 1.2 Fault into a *FaultError.
func (dc *decoder) fault() error {
	f := &FaultError{}
	for {
		el, end, err := dc.child()
		if err != nil {
			return err
		}
		if end {
			return f
		}
		switch el.Name.Local {
		case "faultcode", "faultstring", "faultactor", "detail", "Node", "Role":
			text, err := dc.text(el)
			if err != nil {
				return err
			}
			switch el.Name.Local {
			case "faultcode":
				f.Code = strings.TrimSpace(text)
			case "faultstring":
				f.Reason = strings.TrimSpace(text)
			case "detail":
				f.Detail = strings.TrimSpace(text)
			}
		case "Code", "Reason", "Detail":
			text, err := dc.deepText()
			if err != nil {
				return err
			}
			switch el.Name.Local {
			case "Code":
				f.Code = text
			case "Reason":
				f.Reason = text
			case "Detail":
				f.Detail = text
			}
		default:
			if err := dc.skip(); err != nil {
				return err
			}
		}
	}
}

// deepText joins the trimmed text of the current element and all its
// descendants with spaces.
func (dc *decoder) deepText() (string, error) {
	var parts []string
	size := 0
	for depth := 1; depth > 0; {
		tok, err := dc.next()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				size += len(s)
				if size > dc.lim.MaxText {
					return "", dc.errorf("fault text longer than %d bytes", dc.lim.MaxText)
				}
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, " "), nil
}

// attr returns the value of the attribute local in namespace space ("" for
// an unqualified attribute).
func attr(el xml.StartElement, space, local string) string {
	for _, a := range el.Attr {
		// An undeclared xsi: prefix is left untranslated by encoding/xml;
		// it can only mean the schema-instance namespace.
		if a.Name.Local == local && (a.Name.Space == space || space == NamespaceXSI && a.Name.Space == "xsi") {
			return a.Value
		}
	}
	return ""
}

func isEnvelopeNS(ns string) bool { return ns == NamespaceSOAP11 || ns == NamespaceSOAP12 }

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}
