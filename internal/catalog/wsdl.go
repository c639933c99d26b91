package catalog

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// CoreNamespace is the namespace of 1C's XDTO core types: Structure,
// ValueTable and their Property, column and row elements.
const CoreNamespace = "http://v8.1c.ru/8.1/data/core"

// downloadOp is the one operation whose response carries a second element,
// fileData (xs:base64Binary), after return.
const downloadOp = "ServiceRequestDownloadFile"

// WSDL returns a WSDL 1.1 document describing every operation of the
// catalogue at endpoint: document/literal, SOAP 1.1 and SOAP 1.2 bindings,
// the service's soapAction URIs, Params as a core Structure (or the plain
// children of the Plain operations), and a return Structure in every
// response. The document is written from the catalogue (it is what the
// sandbox serves at ?wsdl), not copied from the real service; its core
// schema declares only the types requests and responses use.
func WSDL(endpoint string) []byte {
	var b bytes.Buffer
	b.Grow(160 << 10) // about 1.7 KiB per operation
	b.WriteString(xml.Header)
	b.WriteString(`<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
	xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
	xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
	xmlns:xs="http://www.w3.org/2001/XMLSchema"
	xmlns:core="` + CoreNamespace + `"
	xmlns:tns="` + Namespace + `"
	name="PartnerWebAPI2" targetNamespace="` + Namespace + `">
	<documentation>PartnerWebAPI2 as described by the connect-bridge operation catalogue.</documentation>
	<types>
		<xs:schema targetNamespace="` + CoreNamespace + `" elementFormDefault="qualified" attributeFormDefault="unqualified">
			<xs:complexType name="Structure">
				<xs:sequence>
					<xs:element name="Property" minOccurs="0" maxOccurs="unbounded">
						<xs:complexType>
							<xs:sequence>
								<xs:element name="Value" nillable="true"/>
							</xs:sequence>
							<xs:attribute name="name" type="xs:NMTOKEN" use="required"/>
						</xs:complexType>
					</xs:element>
				</xs:sequence>
			</xs:complexType>
			<xs:complexType name="ValueTable">
				<xs:sequence>
					<xs:element name="column" minOccurs="0" maxOccurs="unbounded">
						<xs:complexType>
							<xs:sequence>
								<xs:element name="Name" type="xs:string"/>
								<xs:element name="ValueType" type="xs:anyType"/>
							</xs:sequence>
						</xs:complexType>
					</xs:element>
					<xs:element name="row" minOccurs="0" maxOccurs="unbounded">
						<xs:complexType>
							<xs:sequence>
								<xs:element name="Value" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
							</xs:sequence>
						</xs:complexType>
					</xs:element>
				</xs:sequence>
			</xs:complexType>
		</xs:schema>
		<xs:schema targetNamespace="` + Namespace + `" elementFormDefault="qualified">
			<xs:import namespace="` + CoreNamespace + `"/>
`)
	// The service schema: a request element and a response element per
	// operation, in catalogue order.
	for i := range operations {
		op := &operations[i]
		b.WriteString("\t\t\t<xs:element name=\"" + op.Name + "\">\n\t\t\t\t<xs:complexType>\n\t\t\t\t\t<xs:sequence>\n")
		if op.Kind == Plain {
			for _, p := range op.Params {
				// soap.Kind names its types with the xs prefix bound above.
				b.WriteString("\t\t\t\t\t\t<xs:element name=\"" + p.Name + "\" type=\"" + p.Type.String() + "\"/>\n")
			}
		} else {
			b.WriteString("\t\t\t\t\t\t<xs:element name=\"Params\" type=\"core:Structure\"/>\n")
		}
		b.WriteString("\t\t\t\t\t</xs:sequence>\n\t\t\t\t</xs:complexType>\n\t\t\t</xs:element>\n")
		b.WriteString("\t\t\t<xs:element name=\"" + op.Name + "Response\">\n\t\t\t\t<xs:complexType>\n\t\t\t\t\t<xs:sequence>\n")
		b.WriteString("\t\t\t\t\t\t<xs:element name=\"return\" type=\"core:Structure\"/>\n")
		if op.Name == downloadOp {
			b.WriteString("\t\t\t\t\t\t<xs:element name=\"fileData\" type=\"xs:base64Binary\"/>\n")
		}
		b.WriteString("\t\t\t\t\t</xs:sequence>\n\t\t\t\t</xs:complexType>\n\t\t\t</xs:element>\n")
	}
	b.WriteString("\t\t</xs:schema>\n\t</types>\n")

	// Messages are named <Op>RequestMessage and <Op>ResponseMessage, as the
	// service names them, each with one part called parameters (the
	// document/literal wrapped convention).
	for i := range operations {
		name := operations[i].Name
		for _, dir := range [...]string{"Request", "Response"} {
			element := name
			if dir == "Response" {
				element += "Response"
			}
			b.WriteString("\t<message name=\"" + name + dir + "Message\">\n")
			b.WriteString("\t\t<part name=\"parameters\" element=\"tns:" + element + "\"/>\n\t</message>\n")
		}
	}

	b.WriteString("\t<portType name=\"PartnerWebAPI2PortType\">\n")
	for i := range operations {
		name := operations[i].Name
		b.WriteString("\t\t<operation name=\"" + name + "\">\n")
		b.WriteString("\t\t\t<input message=\"tns:" + name + "RequestMessage\"/>\n")
		b.WriteString("\t\t\t<output message=\"tns:" + name + "ResponseMessage\"/>\n")
		b.WriteString("\t\t</operation>\n")
	}
	b.WriteString("\t</portType>\n")

	// The two bindings differ only in their name and the prefix of their
	// extension elements.
	for _, bind := range [...]struct{ name, prefix string }{
		{"PartnerWebAPI2SoapBinding", "soap"},
		{"PartnerWebAPI2Soap12Binding", "soap12"},
	} {
		b.WriteString("\t<binding name=\"" + bind.name + "\" type=\"tns:PartnerWebAPI2PortType\">\n")
		b.WriteString("\t\t<" + bind.prefix + ":binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n")
		for i := range operations {
			op := &operations[i]
			b.WriteString("\t\t<operation name=\"" + op.Name + "\">\n")
			b.WriteString("\t\t\t<" + bind.prefix + ":operation style=\"document\" soapAction=\"" + op.SOAPAction() + "\"/>\n")
			b.WriteString("\t\t\t<input>\n\t\t\t\t<" + bind.prefix + ":body use=\"literal\"/>\n\t\t\t</input>\n")
			b.WriteString("\t\t\t<output>\n\t\t\t\t<" + bind.prefix + ":body use=\"literal\"/>\n\t\t\t</output>\n")
			b.WriteString("\t\t</operation>\n")
		}
		b.WriteString("\t</binding>\n")
	}

	// One service, two ports at the same address: the real service
	// answers SOAP 1.1 and 1.2 on one URL.
	location := escapeAttr(endpoint)
	b.WriteString("\t<service name=\"PartnerWebAPI2\">\n")
	b.WriteString("\t\t<port name=\"PartnerWebAPI2Soap\" binding=\"tns:PartnerWebAPI2SoapBinding\">\n")
	b.WriteString("\t\t\t<soap:address location=\"" + location + "\"/>\n\t\t</port>\n")
	b.WriteString("\t\t<port name=\"PartnerWebAPI2Soap12\" binding=\"tns:PartnerWebAPI2Soap12Binding\">\n")
	b.WriteString("\t\t\t<soap12:address location=\"" + location + "\"/>\n\t\t</port>\n")
	b.WriteString("\t</service>\n</definitions>\n")
	return b.Bytes()
}

// escapeAttr escapes s for a double-quoted XML attribute. Operation names
// are NCNames and need no escaping; the endpoint is the caller's.
func escapeAttr(s string) string {
	var b strings.Builder
	// xml.EscapeText writes to a strings.Builder, which never fails.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
