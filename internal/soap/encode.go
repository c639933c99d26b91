package soap

import (
	"bytes"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"
	"unicode/utf8"
)

// Namespaces of PartnerWebAPI2 messages.
const (
	// NamespaceAPI is the service's own namespace (prefix m: in requests).
	NamespaceAPI = "http://buhphone.com/PartnerWebAPI2"
	// NamespaceCore is 1C's XDTO core namespace of Structure and ValueTable.
	NamespaceCore = "http://v8.1c.ru/8.1/data/core"
	// NamespaceXS is XML Schema's namespace, the prefix xs: of scalar types.
	NamespaceXS = "http://www.w3.org/2001/XMLSchema"
	// NamespaceXSI is XML Schema instance's namespace: xsi:type, xsi:nil.
	NamespaceXSI = "http://www.w3.org/2001/XMLSchema-instance"
	// NamespaceSOAP11 is the SOAP 1.1 envelope namespace.
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	// NamespaceSOAP12 is the SOAP 1.2 envelope namespace.
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Version is a SOAP version. The zero Version is SOAP 1.1.
type Version uint8

// The two SOAP versions the service binds.
const (
	SOAP11 Version = iota
	SOAP12
)

// String returns "1.1" or "1.2".
func (v Version) String() string {
	if v == SOAP12 {
		return "1.2"
	}
	return "1.1"
}

// Namespace returns the envelope namespace of the version.
func (v Version) Namespace() string {
	if v == SOAP12 {
		return NamespaceSOAP12
	}
	return NamespaceSOAP11
}

// ContentType returns the Content-Type of a message of this version. SOAP
// 1.2 carries the action inside it; SOAP 1.1 sends it as SOAPAction.
func (v Version) ContentType(action string) string {
	if v == SOAP12 {
		return `application/soap+xml; charset=utf-8; action="` + action + `"`
	}
	return "text/xml; charset=utf-8"
}

// Action returns the SOAPAction of an operation.
func Action(op string) string { return NamespaceAPI + "#PartnerWebAPI2:" + op }

// Request is one call of an operation. Exactly one form of input is used:
// Params (a Structure for one object or a ValueTable for a packet) for the
// operations that take Params, or Children (plain child elements, in order)
// for the file and message operations.
type Request struct {
	Op       string
	Params   Value
	Children []Property
}

// Response is what an operation answered: ResultCode and ResultData, plus any
// further children of the response element (ServiceRequestDownloadFile adds
// fileData).
type Response struct {
	Op    string
	Code  string
	Data  Value
	Extra []Property
	// ServerTime is the service's clock when it answered, from the HTTP
	// Date header of the answer (to the second, in UTC), set by the
	// Client. Zero when the header is missing or unreadable, and on
	// messages decoded without the Client. The encoders ignore it.
	ServerTime time.Time
}

// CodeSuccess is the ResultCode of a call or row that succeeded.
const CodeSuccess = "SUCCESS"

// CodeOutOfLimit is the ResultCode of a call refused by the hourly limit.
const CodeOutOfLimit = "OUT_OF_LIMIT"

// The request writer produces the form of the API's own example: tab
// indentation, m: for the service namespace, d4p1: for the core namespace
// declared on Params, table cells typed by their column.

// EncodeRequest writes req as a complete SOAP envelope of version v.
func EncodeRequest(w io.Writer, v Version, req *Request) error {
	var b bytes.Buffer
	if err := AppendRequest(&b, v, req); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// AppendRequest appends req as a SOAP envelope of version v to b. A
// request with streamed values (Stream) is refused: only the Client sends
// them, reading each as it writes the request.
func AppendRequest(b *bytes.Buffer, v Version, req *Request) error {
	if hasBlob(req) {
		return fmt.Errorf("soap: encode %s: a streamed value is sent by the Client only", req.Op)
	}
	return appendRequest(b, v, req)
}

// appendRequest is AppendRequest for a request known to stream nothing.
func appendRequest(b *bytes.Buffer, v Version, req *Request) error {
	if !ValidName(req.Op) {
		return fmt.Errorf("soap: encode: operation %q is not a name (see ValidName)", req.Op)
	}
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(v.Namespace())
	b.WriteString("\">\n\t<soap:Body>\n\t\t<m:")
	b.WriteString(req.Op)
	b.WriteString(` xmlns:m="` + NamespaceAPI + `">` + "\n")
	if req.Children != nil {
		for _, c := range req.Children {
			if !ValidName(c.Name) {
				return fmt.Errorf("soap: encode %s: child %q is not a name (see ValidName)", req.Op, c.Name)
			}
			if c.Value.Kind == KindStructure || c.Value.Kind == KindTable {
				return fmt.Errorf("soap: encode %s: child %s must be a scalar, not %s", req.Op, c.Name, c.Value.Kind)
			}
			b.WriteString("\t\t\t<m:")
			b.WriteString(c.Name)
			if c.Value.Kind == KindNil {
				b.WriteString(` xsi:nil="true" xmlns:xsi="` + NamespaceXSI + `"/>` + "\n")
				continue
			}
			b.WriteByte('>')
			escapeText(b, c.Value.Text)
			b.WriteString("</m:")
			b.WriteString(c.Name)
			b.WriteString(">\n")
		}
	} else if err := appendParams(b, req.Op, req.Params); err != nil {
		return err
	}
	b.WriteString("\t\t</m:")
	b.WriteString(req.Op)
	b.WriteString(">\n\t</soap:Body>\n</soap:Envelope>")
	return nil
}

const paramsOpen = "\t\t\t<m:Params xmlns:d4p1=\"" + NamespaceCore + "\"\n" +
	"\t\t\t\t\txmlns:xs=\"" + NamespaceXS + "\"\n" +
	"\t\t\t\t\txmlns:xsi=\"" + NamespaceXSI + "\""

func appendParams(b *bytes.Buffer, op string, p Value) error {
	b.WriteString(paramsOpen)
	switch p.Kind {
	case KindNil, KindStructure:
		b.WriteString(">\n")
		for _, prop := range p.Props {
			if err := appendProperty(b, "\t\t\t\t", "d4p1:", prop); err != nil {
				return fmt.Errorf("soap: encode %s: %w", op, err)
			}
		}
	case KindTable:
		b.WriteString("\n\t\t\t\t\txsi:type=\"d4p1:ValueTable\">\n")
		if err := appendTable(b, "\t\t\t\t", "d4p1:", p.Table); err != nil {
			return fmt.Errorf("soap: encode %s: %w", op, err)
		}
	default:
		return fmt.Errorf("soap: encode %s: Params must be a Structure or a ValueTable, not %s", op, p.Kind)
	}
	b.WriteString("\t\t\t</m:Params>\n")
	return nil
}

// appendProperty writes <P:Property name="…"><P:Value xsi:type="…">…</P:Value></P:Property>.
func appendProperty(b *bytes.Buffer, indent, pfx string, p Property) error {
	if !ValidName(p.Name) {
		return fmt.Errorf("property %q is not a name (see ValidName)", p.Name)
	}
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(pfx)
	b.WriteString(`Property name="`)
	escapeAttr(b, p.Name)
	b.WriteString("\">\n")
	if err := appendTypedValue(b, indent+"\t", pfx, p.Value); err != nil {
		return fmt.Errorf("property %s: %w", p.Name, err)
	}
	b.WriteString(indent)
	b.WriteString("</")
	b.WriteString(pfx)
	b.WriteString("Property>\n")
	return nil
}

// appendTypedValue writes a <Value> that carries its own xsi:type, as inside
// a Structure or in a result cell.
func appendTypedValue(b *bytes.Buffer, indent, pfx string, v Value) error {
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(pfx)
	b.WriteString("Value")
	switch v.Kind {
	case KindNil:
		b.WriteString(" xsi:nil=\"true\"/>\n")
		return nil
	case KindStructure:
		b.WriteString(` xsi:type="`)
		b.WriteString(pfx)
		b.WriteString("Structure\">\n")
		for _, p := range v.Props {
			if err := appendProperty(b, indent+"\t", pfx, p); err != nil {
				return err
			}
		}
	case KindTable:
		b.WriteString(` xsi:type="`)
		b.WriteString(pfx)
		b.WriteString("ValueTable\">\n")
		if err := appendTable(b, indent+"\t", pfx, v.Table); err != nil {
			return err
		}
	default:
		b.WriteString(` xsi:type="`)
		b.WriteString(scalarTypeName(v))
		b.WriteString(`">`)
		escapeText(b, v.Text)
		b.WriteString("</")
		b.WriteString(pfx)
		b.WriteString("Value>\n")
		return nil
	}
	b.WriteString(indent)
	b.WriteString("</")
	b.WriteString(pfx)
	b.WriteString("Value>\n")
	return nil
}

func scalarTypeName(v Value) string {
	if v.Kind == KindOther {
		return v.TypeName
	}
	return v.Kind.String()
}

// appendTable writes the columns and rows of a ValueTable. Cells carry no
// xsi:type (their column declares it) unless their kind differs from the
// column's first declared type, or the column declares none.
func appendTable(b *bytes.Buffer, indent, pfx string, t *Table) error {
	if t == nil {
		return nil
	}
	declared, err := appendColumns(b, indent, pfx, t.Columns)
	if err != nil {
		return err
	}
	tags := newCellTags(indent, pfx)
	for ri, row := range t.Rows {
		if err := appendRow(b, indent, pfx, t.Columns, declared, row, tags); err != nil {
			return fmt.Errorf("row %d%w", ri, err)
		}
	}
	return nil
}

// appendRow writes one row of a table whose columns declared (see
// appendColumns). Its error is to follow the row's number.
func appendRow(b *bytes.Buffer, indent, pfx string, cols []Column, declared []string, row []Value, tags cellTags) error {
	if len(row) != len(cols) {
		return fmt.Errorf(" has %d cells for %d columns", len(row), len(cols))
	}
	openTag(b, indent, pfx, "row")
	for ci, cell := range row {
		if err := appendCell(b, indent+"\t", pfx, declared[ci], cell, tags); err != nil {
			return fmt.Errorf(" column %s: %w", cols[ci].Name, err)
		}
	}
	closeTag(b, indent, pfx, "row")
	return nil
}

// newCellTags returns the tags of the cells of a table written at indent.
func newCellTags(indent, pfx string) cellTags {
	return cellTags{open: indent + "\t<" + pfx + "Value>", close: "</" + pfx + "Value>\n"}
}

// appendColumns writes a table's column elements and returns the type
// each column declares first, which its cells need not repeat.
func appendColumns(b *bytes.Buffer, indent, pfx string, cols []Column) ([]string, error) {
	in2, in3, in4 := indent+"\t", indent+"\t\t", indent+"\t\t\t"
	declared := make([]string, len(cols))
	for i, c := range cols {
		if !ValidName(c.Name) {
			return nil, fmt.Errorf("column %q is not a name (see ValidName)", c.Name)
		}
		openTag(b, indent, pfx, "column")
		leaf(b, in2, pfx, "Name", c.Name)
		vt := c.Type
		if len(vt.Types) == 0 && vt.String == nil && vt.Number == nil && vt.Date == nil {
			b.WriteString(in2)
			b.WriteString("<" + pfx + "ValueType/>\n")
		} else {
			openTag(b, in2, pfx, "ValueType")
			for _, ty := range vt.Types {
				leaf(b, in3, pfx, "Type", ty)
			}
			if len(vt.Types) > 0 {
				declared[i] = vt.Types[0]
			}
			if q := vt.Number; q != nil {
				openTag(b, in3, pfx, "NumberQualifiers")
				leaf(b, in4, pfx, "Digits", strconv.Itoa(q.Digits))
				leaf(b, in4, pfx, "FractionDigits", strconv.Itoa(q.FractionDigits))
				sign := "Any"
				if q.Nonnegative {
					sign = "Nonnegative"
				}
				leaf(b, in4, pfx, "AllowedSign", sign)
				closeTag(b, in3, pfx, "NumberQualifiers")
			}
			if q := vt.String; q != nil {
				openTag(b, in3, pfx, "StringQualifiers")
				leaf(b, in4, pfx, "Length", strconv.Itoa(q.Length))
				allowed := "Variable"
				if q.Fixed {
					allowed = "Fixed"
				}
				leaf(b, in4, pfx, "AllowedLength", allowed)
				closeTag(b, in3, pfx, "StringQualifiers")
			}
			if q := vt.Date; q != nil {
				openTag(b, in3, pfx, "DateQualifiers")
				leaf(b, in4, pfx, "DateFractions", q.Fractions)
				closeTag(b, in3, pfx, "DateQualifiers")
			}
			closeTag(b, in2, pfx, "ValueType")
		}
		closeTag(b, indent, pfx, "column")
	}
	return declared, nil
}

// cellTags are a table's cell tags, built once per table.
type cellTags struct{ open, close string }

func appendCell(b *bytes.Buffer, indent, pfx, declared string, v Value, tags cellTags) error {
	switch v.Kind {
	case KindNil, KindStructure, KindTable:
		return appendTypedValue(b, indent, pfx, v)
	}
	name := scalarTypeName(v)
	text := v.Text
	if v.Kind == KindDate && declared == "xs:dateTime" {
		// A date in a column declared as xs:dateTime (how 1C types dates)
		// is written as midnight of that day.
		name, text = declared, text+"T00:00:00"
	}
	if name != declared {
		return appendTypedValue(b, indent, pfx, v)
	}
	b.WriteString(tags.open)
	escapeText(b, text)
	b.WriteString(tags.close)
	return nil
}

func openTag(b *bytes.Buffer, indent, pfx, name string) {
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(pfx)
	b.WriteString(name)
	b.WriteString(">\n")
}

func closeTag(b *bytes.Buffer, indent, pfx, name string) {
	b.WriteString(indent)
	b.WriteString("</")
	b.WriteString(pfx)
	b.WriteString(name)
	b.WriteString(">\n")
}

func leaf(b *bytes.Buffer, indent, pfx, name, text string) {
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(pfx)
	b.WriteString(name)
	b.WriteByte('>')
	escapeText(b, text)
	b.WriteString("</")
	b.WriteString(pfx)
	b.WriteString(name)
	b.WriteString(">\n")
}

// EncodeResponse writes resp as the service writes its answers: the core
// namespace as the default namespace of each Property, cells typed one by
// one. The sandbox answers with it; tests round-trip through it.
func EncodeResponse(w io.Writer, v Version, resp *Response) error {
	var b bytes.Buffer
	if err := AppendResponse(&b, v, resp); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// AppendResponse appends resp as a SOAP envelope of version v to b.
func AppendResponse(b *bytes.Buffer, v Version, resp *Response) error {
	if !ValidName(resp.Op) {
		return fmt.Errorf("soap: encode: operation %q is not a name (see ValidName)", resp.Op)
	}
	appendResponseHead(b, v, resp.Op)
	for _, p := range []Property{{Name: "ResultCode", Value: String(resp.Code)}, {Name: "ResultData", Value: resp.Data}} {
		openResultProperty(b, p.Name)
		if err := appendTypedValue(b, resultIndent, "", p.Value); err != nil {
			return fmt.Errorf("soap: encode %s response: %w", resp.Op, err)
		}
		b.WriteString(closeResultProperty)
	}
	b.WriteString("\t\t\t</m:return>\n")
	for _, c := range resp.Extra {
		if !ValidName(c.Name) {
			return fmt.Errorf("soap: encode %s response: child %q is not a name (see ValidName)", resp.Op, c.Name)
		}
		leaf(b, "\t\t\t", "m:", c.Name, c.Value.Text)
	}
	appendResponseTail(b, resp.Op)
	return nil
}

// resultIndent is the indentation of the Value of a return property.
const resultIndent = "\t\t\t\t\t"

// closeResultProperty ends a property of the return Structure.
const closeResultProperty = "\t\t\t\t</Property>\n"

// appendResponseHead writes an answer's envelope up to the return
// Structure's first property.
func appendResponseHead(b *bytes.Buffer, v Version, op string) {
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(v.Namespace())
	b.WriteString("\">\n\t<soap:Body>\n\t\t<m:")
	b.WriteString(op)
	b.WriteString("Response xmlns:m=\"" + NamespaceAPI + "\">\n")
	b.WriteString("\t\t\t<m:return xmlns:xs=\"" + NamespaceXS + "\"\n\t\t\t\t\txmlns:xsi=\"" + NamespaceXSI + "\">\n")
}

// openResultProperty starts a property of the return Structure.
func openResultProperty(b *bytes.Buffer, name string) {
	b.WriteString("\t\t\t\t<Property xmlns=\"" + NamespaceCore + "\"\n\t\t\t\t\t\tname=\"")
	escapeAttr(b, name)
	b.WriteString("\">\n")
}

// appendResponseTail closes an answer's envelope after its return.
func appendResponseTail(b *bytes.Buffer, op string) {
	b.WriteString("\t\t</m:")
	b.WriteString(op)
	b.WriteString("Response>\n\t</soap:Body>\n</soap:Envelope>")
}

// EncodeResponseRows writes a successful read's answer, a ResultData
// ValueTable of cols whose rows come one by one from rows, to w as they
// come: the bytes EncodeResponse writes for the same table, without ever
// holding it, through a buffer of 64 KiB. Names are checked before
// anything is written; a row whose width is not the columns' stops the
// writing with an error, leaving w a message cut short (which a reader
// refuses), so rows should be built from cols.
func EncodeResponseRows(w io.Writer, v Version, op string, cols []Column, rows iter.Seq[[]Value]) error {
	if !ValidName(op) {
		return fmt.Errorf("soap: encode: operation %q is not a name (see ValidName)", op)
	}
	b := new(bytes.Buffer)
	appendResponseHead(b, v, op)
	openResultProperty(b, "ResultCode")
	if err := appendTypedValue(b, resultIndent, "", String(CodeSuccess)); err != nil {
		return err
	}
	b.WriteString(closeResultProperty)
	openResultProperty(b, "ResultData")
	b.WriteString(resultIndent + "<Value xsi:type=\"ValueTable\">\n")
	const tableIndent = resultIndent + "\t"
	declared, err := appendColumns(b, tableIndent, "", cols)
	if err != nil {
		return fmt.Errorf("soap: encode %s response: %w", op, err)
	}
	const flushAt = 64 << 10
	tags := newCellTags(tableIndent, "")
	ri := 0
	for row := range rows {
		if err := appendRow(b, tableIndent, "", cols, declared, row, tags); err != nil {
			return fmt.Errorf("soap: encode %s response: row %d%w", op, ri, err)
		}
		ri++
		if b.Len() >= flushAt {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString(resultIndent + "</Value>\n")
	b.WriteString(closeResultProperty)
	b.WriteString("\t\t\t</m:return>\n")
	appendResponseTail(b, op)
	_, err = w.Write(b.Bytes())
	return err
}

// EncodeFault writes a SOAP Fault of version v: what the service answers,
// with HTTP 500, to a request it cannot run.
func EncodeFault(w io.Writer, v Version, code, reason string) error {
	b := new(bytes.Buffer)
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(v.Namespace())
	b.WriteString("\">\n\t<soap:Body>\n\t\t<soap:Fault>\n")
	if v == SOAP12 {
		b.WriteString("\t\t\t<soap:Code>\n")
		leaf(b, "\t\t\t\t", "soap:", "Value", "soap:"+code)
		b.WriteString("\t\t\t</soap:Code>\n\t\t\t<soap:Reason>\n\t\t\t\t<soap:Text xml:lang=\"ru\">")
		escapeText(b, reason)
		b.WriteString("</soap:Text>\n\t\t\t</soap:Reason>\n")
	} else {
		leaf(b, "\t\t\t", "", "faultcode", "soap:"+code)
		leaf(b, "\t\t\t", "", "faultstring", reason)
	}
	b.WriteString("\t\t</soap:Fault>\n\t</soap:Body>\n</soap:Envelope>")
	_, err := w.Write(b.Bytes())
	return err
}

// escapeText writes s as XML character data. Characters XML 1.0 cannot carry
// are replaced by U+FFFD, so that a hostile field never breaks the envelope.
func escapeText(b *bytes.Buffer, s string) { escape(b, s, false) }

// escapeAttr writes s as a double-quoted attribute value.
func escapeAttr(b *bytes.Buffer, s string) { escape(b, s, true) }

// escape writes s escaped for text or, with attr, for an attribute value,
// where quotes and whitespace other than spaces must be escaped too.
func escape(b *bytes.Buffer, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < utf8.RuneSelf && c != '<' && c != '>' && c != '&' && c != '"' {
			i++ // the common case: printable ASCII that needs nothing
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '<':
			esc = "&lt;"
		case r == '>' && !attr:
			esc = "&gt;"
		case r == '&':
			esc = "&amp;"
		case r == '\r':
			esc = "&#xD;"
		case attr && r == '"':
			esc = "&quot;"
		case attr && r == '\n':
			esc = "&#xA;"
		case attr && r == '\t':
			esc = "&#x9;"
		case r == utf8.RuneError && size == 1, !isXMLChar(r):
			esc = "\uFFFD"
		default:
			i += size
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += size
		last = i
	}
	b.WriteString(s[last:])
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
