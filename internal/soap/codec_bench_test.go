package soap_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
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

// readAnswer is a read's answer of rows rows as the service writes it (the
// form of the recorded RegionRead answer: tab-indented, every cell typed):
// UserServiceLineRead's recorded columns, two ids and three times.
func readAnswer(rows int) []byte {
	var b bytes.Buffer
	writeReadAnswer(&b, rows)
	return b.Bytes()
}

// writeReadAnswer writes readAnswer(rows) to w as it goes, holding no
// more than a row: a test server streams a big answer with it.
func writeReadAnswer(w io.Writer, rows int) {
	b := bufio.NewWriterSize(w, 64<<10)
	defer b.Flush()
	b.WriteString("<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\">\n\t<soap:Body>\n" +
		"\t\t<m:UserServiceLineReadResponse xmlns:m=\"http://buhphone.com/PartnerWebAPI2\">\n" +
		"\t\t\t<m:return xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"\n\t\t\t\t\txmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n" +
		"\t\t\t\t<Property xmlns=\"http://v8.1c.ru/8.1/data/core\"\n\t\t\t\t\t\tname=\"ResultCode\">\n" +
		"\t\t\t\t\t<Value xsi:type=\"xs:string\">SUCCESS</Value>\n\t\t\t\t</Property>\n" +
		"\t\t\t\t<Property xmlns=\"http://v8.1c.ru/8.1/data/core\"\n\t\t\t\t\t\tname=\"ResultData\">\n" +
		"\t\t\t\t\t<Value xsi:type=\"ValueTable\">\n")
	for _, c := range []struct{ name, typ string }{
		{"ServiceUserID", "xs:string"}, {"ServiceID", "xs:string"},
		{"CreateTime", "xs:dateTime"}, {"ActivateDate", "xs:dateTime"}, {"ExpiresDate", "xs:dateTime"},
	} {
		fmt.Fprintf(b, "\t\t\t\t\t\t<column>\n\t\t\t\t\t\t\t<Name>%s</Name>\n\t\t\t\t\t\t\t<ValueType>\n\t\t\t\t\t\t\t\t<Type>%s</Type>\n\t\t\t\t\t\t\t</ValueType>\n\t\t\t\t\t\t</column>\n", c.name, c.typ)
	}
	for i := range rows {
		fmt.Fprintf(b, "\t\t\t\t\t\t<row>\n"+
			"\t\t\t\t\t\t\t<Value xsi:type=\"xs:string\">00000000-0000-4000-8000-%012d</Value>\n"+
			"\t\t\t\t\t\t\t<Value xsi:type=\"xs:string\">9254945c-8135-11e9-80f6-%012d</Value>\n"+
			"\t\t\t\t\t\t\t<Value xsi:type=\"xs:dateTime\">2024-02-%02dT09:07:42</Value>\n"+
			"\t\t\t\t\t\t\t<Value xsi:type=\"xs:dateTime\">2024-03-01T00:00:00</Value>\n"+
			"\t\t\t\t\t\t\t<Value xsi:type=\"xs:dateTime\">0001-01-01T00:00:00</Value>\n"+
			"\t\t\t\t\t\t</row>\n", i, i%50, 1+i%28)
	}
	b.WriteString("\t\t\t\t\t</Value>\n\t\t\t\t</Property>\n\t\t\t</m:return>\n\t\t</m:UserServiceLineReadResponse>\n\t</soap:Body>\n</soap:Envelope>")
}

// BenchmarkDecodeRead100k decodes a read's answer of 100,000 rows (about
// 42 MB), from an io.Reader as the Client does. Besides time and
// allocations it reports, measured once on a fresh heap before the loop,
// peak-RSS-MB: how much the process's peak resident memory grew while
// decoding one answer (Linux: VmHWM after resetting it through
// /proc/self/clear_refs; 0 elsewhere), and held-MB: the heap the decoded
// Response holds.
func BenchmarkDecodeRead100k(b *testing.B) {
	body := readAnswer(100_000)
	decode := func() *soap.Response {
		resp, err := soap.DecodeResponse(bytes.NewReader(body), soap.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if resp.Data.Kind != soap.KindTable || len(resp.Data.Table.Rows) != 100_000 {
			b.Fatalf("decoded %s", resp.Data.Kind)
		}
		return resp
	}
	peak, held := peakOf(decode)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		decode()
	}
	// After the loop: its first round resets user metrics.
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(held)/(1<<20), "held-MB")
}

// peakOf runs f once on a fresh heap and returns how much the process's
// peak RSS grew meanwhile (0 where /proc cannot tell) and how much heap
// f's result holds.
func peakOf[T any](f func() T) (peak, held int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rss0, ok := procStatus("VmRSS")
	if ok && os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		ok = false
	}
	v := f()
	hwm, _ := procStatus("VmHWM")
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if ok {
		peak = hwm - rss0
	}
	return peak, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// procStatus reads a size field of /proc/self/status, in bytes.
func procStatus(field string) (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// BenchmarkDecodeRowsRead100k streams the answer of BenchmarkDecodeRead100k
// through DecodeResponseRows, as CallRows does, handing each row to a
// function that keeps nothing. The timed loop reads the answer from
// memory; peak-RSS-MB is measured once on an answer generated as it is
// read (through a pipe), so that it shows what decoding holds, not the
// 42 MB input: what one streamed answer of 100,000 rows costs at most,
// garbage not yet collected included.
func BenchmarkDecodeRowsRead100k(b *testing.B) {
	const rows = 100_000
	decode := func(r io.Reader) int {
		n := 0
		_, err := soap.DecodeResponseRows(r, soap.Limits{}, func(cols []soap.Column, row []soap.Value) error {
			n++
			return nil
		})
		if err != nil || n != rows {
			b.Fatalf("%d rows, %v", n, err)
		}
		return n
	}
	peak, _ := peakOf(func() int {
		pr, pw := io.Pipe()
		go func() {
			writeReadAnswer(pw, rows)
			pw.Close()
		}()
		return decode(pr)
	})
	body := readAnswer(rows)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		decode(bytes.NewReader(body))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
}
