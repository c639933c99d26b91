package soap_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// packet100 is a full ClientUserEdit packet as the worker builds it: five
// string columns, 100 rows of distinct users.
func packet100() *soap.Request {
	str := soap.TypeOf(soap.KindString)
	t := &soap.Table{Columns: []soap.Column{
		{Name: "ClientUserID", Type: str},
		{Name: "Name", Type: str},
		{Name: "Password", Type: str},
		{Name: "Phone", Type: str},
		{Name: "EMail", Type: str},
	}}
	for i := range 100 {
		t.Rows = append(t.Rows, []soap.Value{
			soap.String(fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)),
			soap.String(fmt.Sprintf("Имя %d", i)),
			soap.String("secret1"),
			soap.String(fmt.Sprintf("+7 900 000-%02d-%02d", i/100, i%100)),
			soap.String(fmt.Sprintf("user%d@example.com", i)),
		})
	}
	return &soap.Request{Op: "ClientUserEdit", Params: soap.TableValue(t)}
}

// BenchmarkEncodePacket100 encodes a 100-row ClientUserEdit packet into a
// reused buffer, as soap.Client.Call does with its pooled buffers.
func BenchmarkEncodePacket100(b *testing.B) {
	req := packet100()
	var buf bytes.Buffer
	if err := soap.AppendRequest(&buf, soap.SOAP11, req); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := soap.AppendRequest(&buf, soap.SOAP11, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRowResults100 decodes the answer to a 100-row packet, a
// SOAP 1.2 envelope with a ValueTable of ResultCode and ResultData (true
// for each edited row), as the sandbox and the service write it, and
// reads its per-row results.
func BenchmarkDecodeRowResults100(b *testing.B) {
	t := &soap.Table{Columns: []soap.Column{
		{Name: "ResultCode", Type: soap.TypeOf(soap.KindString)},
		{Name: "ResultData"},
	}}
	for range 100 {
		t.Rows = append(t.Rows, []soap.Value{soap.String(soap.CodeSuccess), soap.Bool(true)})
	}
	var buf bytes.Buffer
	resp := &soap.Response{Op: "ClientUserEdit", Code: soap.CodeSuccess, Data: soap.TableValue(t)}
	if err := soap.EncodeResponse(&buf, soap.SOAP12, resp); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := soap.DecodeResponse(bytes.NewReader(body), soap.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := got.Rows()
		if err != nil || len(rows) != 100 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// BenchmarkDecodeRequestPacket100 decodes a 100-row ClientUserEdit packet as
// the sandbox does on the server side of every call.
func BenchmarkDecodeRequestPacket100(b *testing.B) {
	var buf bytes.Buffer
	if err := soap.AppendRequest(&buf, soap.SOAP11, packet100()); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_, req, err := soap.DecodeRequest(bytes.NewReader(body), soap.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if req.Params.Kind != soap.KindTable || len(req.Params.Table.Rows) != 100 {
			b.Fatalf("decoded %s with %v", req.Params.Kind, req.Params.Table)
		}
	}
}
