package catalog

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/reftest"
)

// The namespaces that tell a SOAP 1.1 binding from a SOAP 1.2 one.
const (
	soap11Binding = "http://schemas.xmlsoap.org/wsdl/soap/"
	soap12Binding = "http://schemas.xmlsoap.org/wsdl/soap12/"
)

// wsdlDoc is the part of a WSDL 1.1 document the agreement checks read.
// Tags without a namespace match any, so prefixes do not matter.
type wsdlDoc struct {
	Schemas []struct {
		TargetNamespace string `xml:"targetNamespace,attr"`
		Elements        []struct {
			Name     string        `xml:"name,attr"`
			Children []wsdlElement `xml:"complexType>sequence>element"`
		} `xml:"element"`
	} `xml:"types>schema"`
	Messages []struct {
		Name  string `xml:"name,attr"`
		Parts []struct {
			Element string `xml:"element,attr"`
		} `xml:"part"`
	} `xml:"message"`
	PortTypes []struct {
		Ops []struct {
			Name   string  `xml:"name,attr"`
			Input  wsdlRef `xml:"input"`
			Output wsdlRef `xml:"output"`
		} `xml:"operation"`
	} `xml:"portType"`
	Bindings []struct {
		Name string `xml:"name,attr"`
		SOAP []struct {
			XMLName xml.Name
			Style   string `xml:"style,attr"`
		} `xml:"binding"`
		Ops []struct {
			Name string `xml:"name,attr"`
			SOAP []struct {
				Action string `xml:"soapAction,attr"`
			} `xml:"operation"`
			Input  wsdlBody `xml:"input"`
			Output wsdlBody `xml:"output"`
		} `xml:"operation"`
	} `xml:"binding"`
	Ports []struct {
		Address []struct {
			Location string `xml:"location,attr"`
		} `xml:"address"`
	} `xml:"service>port"`
}

// wsdlRef is a portType operation's input or output.
type wsdlRef struct {
	Message string `xml:"message,attr"`
}

// wsdlBody is a binding operation's input or output.
type wsdlBody struct {
	Body struct {
		Use string `xml:"use,attr"`
	} `xml:"body"`
}

// wsdlElement is one child of an element's sequence.
type wsdlElement struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

// parseWSDL reads a WSDL document, checking that all of it is well-formed
// XML, not only the parts wsdlDoc maps.
func parseWSDL(data []byte) (*wsdlDoc, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("not well-formed: %w", err)
		}
	}
	var doc wsdlDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// local drops a QName's prefix: "xs1:Structure" becomes "Structure".
func local(qname string) string {
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// disagreements lists every way doc disagrees with the catalogue: the set
// of operations, Params against plain children (names, order and types),
// the response elements, and the soapAction of both bindings.
func disagreements(doc *wsdlDoc) []string {
	var out []string
	report := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	// Elements of the service schema by name, messages by name.
	elements := map[string][]wsdlElement{}
	for _, s := range doc.Schemas {
		if s.TargetNamespace != Namespace {
			continue
		}
		for _, e := range s.Elements {
			elements[e.Name] = e.Children
		}
	}
	messageElement := map[string]string{}
	for _, m := range doc.Messages {
		if len(m.Parts) == 1 {
			messageElement[m.Name] = local(m.Parts[0].Element)
		}
	}
	// The children of the element a message (named by QName) carries.
	children := func(message string) ([]wsdlElement, bool) {
		el, ok := messageElement[local(message)]
		if !ok {
			return nil, false
		}
		c, ok := elements[el]
		return c, ok
	}

	if len(doc.PortTypes) != 1 {
		report("want 1 portType, got %d", len(doc.PortTypes))
		return out
	}
	inWSDL := map[string]bool{}
	for _, o := range doc.PortTypes[0].Ops {
		inWSDL[o.Name] = true
		op, ok := Lookup(o.Name)
		if !ok {
			report("extra operation in the WSDL: %s", o.Name)
			continue
		}
		in, ok := children(o.Input.Message)
		if !ok {
			report("%s: input message %q has no element", o.Name, o.Input.Message)
			continue
		}
		var got, want []string
		for _, c := range in {
			got = append(got, c.Name+" "+local(c.Type))
		}
		if op.Kind == Plain {
			for _, p := range op.Params {
				want = append(want, p.Name+" "+local(p.Type.String()))
			}
		} else {
			want = []string{"Params Structure"}
		}
		if !slices.Equal(got, want) {
			report("%s (%s): request children %v, catalogue says %v", o.Name, op.Kind, got, want)
		}

		outChildren, ok := children(o.Output.Message)
		if !ok {
			report("%s: output message %q has no element", o.Name, o.Output.Message)
			continue
		}
		got = got[:0]
		for _, c := range outChildren {
			got = append(got, c.Name+" "+local(c.Type))
		}
		want = []string{"return Structure"}
		if o.Name == downloadOp {
			want = append(want, "fileData base64Binary")
		}
		if !slices.Equal(got, want) {
			report("%s: response children %v, want %v", o.Name, got, want)
		}
	}
	for _, op := range All() {
		if !inWSDL[op.Name] {
			report("operation missing from the WSDL: %s", op.Name)
		}
	}

	// Both bindings, each with every operation and its soapAction.
	versions := map[string]bool{}
	for _, bnd := range doc.Bindings {
		if len(bnd.SOAP) != 1 {
			report("binding %s: want one SOAP binding element, got %d", bnd.Name, len(bnd.SOAP))
			continue
		}
		ns := bnd.SOAP[0].XMLName.Space
		versions[ns] = true
		if bnd.SOAP[0].Style != "document" {
			report("binding %s: style %q, want document", bnd.Name, bnd.SOAP[0].Style)
		}
		bound := map[string]bool{}
		for _, o := range bnd.Ops {
			bound[o.Name] = true
			op, ok := Lookup(o.Name)
			if !ok {
				report("binding %s: extra operation %s", bnd.Name, o.Name)
				continue
			}
			if len(o.SOAP) != 1 || o.SOAP[0].Action != op.SOAPAction() {
				report("binding %s: %s: soapAction %v, want %s", bnd.Name, o.Name, o.SOAP, op.SOAPAction())
			}
			if o.Input.Body.Use != "literal" || o.Output.Body.Use != "literal" {
				report("binding %s: %s: body use %q/%q, want literal", bnd.Name, o.Name, o.Input.Body.Use, o.Output.Body.Use)
			}
		}
		for _, op := range All() {
			if !bound[op.Name] {
				report("binding %s: operation %s missing", bnd.Name, op.Name)
			}
		}
	}
	for _, ns := range []string{soap11Binding, soap12Binding} {
		if !versions[ns] {
			report("no binding in %s", ns)
		}
	}
	return out
}

// TestRealWSDLAgreesWithCatalogue reads the service's own WSDL in place
// (third-party material, never copied into the repository); it skips,
// saying why, when the reference folder is absent.
func TestRealWSDLAgreesWithCatalogue(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(reftest.File(t, "PartnerWebAPI2.wsdl"))
	require.NoError(t, err)
	doc, err := parseWSDL(data)
	require.NoError(t, err)
	require.Empty(t, disagreements(doc))
	require.Len(t, doc.PortTypes[0].Ops, 87)
}

// TestGeneratedWSDL checks WSDL's output with the same code path; it
// never skips.
func TestGeneratedWSDL(t *testing.T) {
	t.Parallel()
	const endpoint = "http://127.0.0.1:8080/cus/ws/PartnerWebAPI2"
	doc, err := parseWSDL(WSDL(endpoint))
	require.NoError(t, err)
	require.Empty(t, disagreements(doc))
	require.Len(t, doc.PortTypes[0].Ops, 87)
	require.Len(t, doc.Ports, 2)
	for _, p := range doc.Ports {
		require.Len(t, p.Address, 1)
		require.Equal(t, endpoint, p.Address[0].Location)
	}
	require.Equal(t, WSDL(endpoint), WSDL(endpoint), "deterministic")
}

// TestGeneratedWSDLEscapesEndpoint checks that an endpoint with XML
// metacharacters keeps the document well-formed and round-trips.
func TestGeneratedWSDLEscapesEndpoint(t *testing.T) {
	t.Parallel()
	const endpoint = `http://h/ws?a=1&b="2"<x>`
	doc, err := parseWSDL(WSDL(endpoint))
	require.NoError(t, err)
	require.Equal(t, endpoint, doc.Ports[0].Address[0].Location)
}

// TestDisagreementsReported proves the checker catches what it must: a
// missing and an extra operation, a plain operation turned into Params,
// reordered plain children and a wrong soapAction.
func TestDisagreementsReported(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		mutate func(string) string
		want   []string
	}{
		{
			name: "operation renamed",
			mutate: func(s string) string {
				return strings.ReplaceAll(s, `<operation name="RegionRead">`, `<operation name="RegionReadX">`)
			},
			want: []string{
				"extra operation in the WSDL: RegionReadX",
				"operation missing from the WSDL: RegionRead",
			},
		},
		{
			name: "plain children reordered",
			mutate: func(s string) string {
				return strings.Replace(s,
					"<xs:element name=\"FileID\" type=\"xs:string\"/>\n\t\t\t\t\t\t<xs:element name=\"AuthorID\" type=\"xs:string\"/>",
					"<xs:element name=\"AuthorID\" type=\"xs:string\"/>\n\t\t\t\t\t\t<xs:element name=\"FileID\" type=\"xs:string\"/>", 1)
			},
			want: []string{"ServiceRequestDeleteFile (Plain): request children [AuthorID string FileID string], catalogue says [FileID string AuthorID string]"},
		},
		{
			name: "soapAction wrong",
			mutate: func(s string) string {
				return strings.Replace(s, "PartnerWebAPI2:ClientRead\"", "PartnerWebAPI2:ClientReed\"", 1)
			},
			want: []string{"binding PartnerWebAPI2SoapBinding: ClientRead: soapAction [{http://buhphone.com/PartnerWebAPI2#PartnerWebAPI2:ClientReed}], want http://buhphone.com/PartnerWebAPI2#PartnerWebAPI2:ClientRead"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mutated := tt.mutate(string(WSDL("http://x")))
			doc, err := parseWSDL([]byte(mutated))
			require.NoError(t, err)
			for _, w := range tt.want {
				require.Contains(t, disagreements(doc), w)
			}
		})
	}
}

func TestParseWSDLRejectsMalformed(t *testing.T) {
	t.Parallel()
	data := WSDL("http://x")
	_, err := parseWSDL(data[:len(data)/2])
	require.Error(t, err)
}
