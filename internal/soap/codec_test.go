package soap_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/reftest"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

var update = flag.Bool("update", false, "rewrite the generated golden files in testdata/")

// seedPacket is the packet of the API's own example request.
func seedPacket() *soap.Request {
	str := soap.TypeOf(soap.KindString)
	return &soap.Request{
		Op: "ClientAdditionalParameterValueEdit",
		Params: soap.TableValue(&soap.Table{
			Columns: []soap.Column{
				{Name: "ClientParameterID", Type: str},
				{Name: "ClientID", Type: str},
				{Name: "Value", Type: str},
				{Name: "Color", Type: str},
			},
			Rows: [][]soap.Value{
				{soap.String("xfafb2b5-8552-11e6-80e3-xx25904f970x"), soap.String("xa29b1a9-26ef-11e8-80e6-x025904f970x"), soap.String("Значение1"), soap.String("RED")},
				{soap.String("xfafb2b5-8552-11e6-80e3-x025904f970x"), soap.String("x74f2212-ed24-49b9-8bb1-xx5822033abx"), soap.String("Значениe2"), soap.String("BLUE")},
			},
		}),
	}
}

func TestEncodeSeedRequestByteForByte(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "seed_request.xml"))
	require.NoError(t, err)
	var got bytes.Buffer
	require.NoError(t, soap.EncodeRequest(&got, soap.SOAP11, seedPacket()))
	require.Equal(t, string(want), got.String())
}

// TestEncodeGolden pins the forms the seed does not show: a Structure, a
// SOAP 1.2 envelope, plain children, typed columns and nil cells.
func TestEncodeGolden(t *testing.T) {
	day := time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		v    soap.Version
		req  *soap.Request
	}{
		{"structure_request", soap.SOAP11, &soap.Request{Op: "ClientUserEdit", Params: soap.Struct(
			soap.Property{Name: "ClientUserID", Value: soap.String("0b9e3c1a-8d0e-11ee-b9d1-0242ac120002")},
			soap.Property{Name: "Name", Value: soap.String("Анна & <Co>")},
			soap.Property{Name: "Birthday", Value: soap.Date(day)},
			soap.Property{Name: "Active", Value: soap.Bool(true)},
			soap.Property{Name: "Priority", Value: soap.Int(2)},
			soap.Property{Name: "DepartmentID", Value: soap.Null()},
		)}},
		{"empty_params_soap12", soap.SOAP12, &soap.Request{Op: "RegionRead", Params: soap.Struct()}},
		{"plain_children", soap.SOAP11, &soap.Request{Op: "ServiceRequestSendTextMessage", Children: []soap.Property{
			{Name: "ServiceRequestID", Value: soap.String("5c3a1b7e-0000-4000-8000-000000000001")},
			{Name: "AuthorID", Value: soap.String("5c3a1b7e-0000-4000-8000-000000000002")},
			{Name: "Message", Value: soap.String("Добрый день!\nLine 2")},
		}}},
		{"typed_table", soap.SOAP12, &soap.Request{Op: "ClientUserEdit", Params: soap.TableValue(&soap.Table{
			Columns: []soap.Column{
				{Name: "ClientUserID", Type: soap.TypeOf(soap.KindString)},
				{Name: "Birthday", Type: soap.TypeOf(soap.KindDate)},
				{Name: "Priority", Type: soap.TypeOf(soap.KindDecimal)},
				{Name: "Active", Type: soap.TypeOf(soap.KindBoolean)},
			},
			Rows: [][]soap.Value{
				{soap.String("a"), soap.Date(day), soap.Int(3), soap.Bool(false)},
				{soap.String("b"), soap.Null(), soap.Decimal("1.50"), soap.Bool(true)},
			},
		})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			require.NoError(t, soap.EncodeRequest(&got, tc.v, tc.req))
			path := filepath.Join("testdata", tc.name+".golden.xml")
			if *update {
				require.NoError(t, os.WriteFile(path, got.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/soap -update to create it")
			require.Equal(t, string(want), got.String())

			// Two-way: what we write, a server reads back unchanged.
			v, back, err := soap.DecodeRequest(bytes.NewReader(got.Bytes()), soap.Limits{})
			require.NoError(t, err)
			require.Equal(t, tc.v, v)
			require.Equal(t, tc.req.Op, back.Op)
			if tc.req.Children != nil {
				require.Equal(t, tc.req.Children, back.Children)
				return
			}
			require.Equal(t, normalize(tc.req.Params), normalize(back.Params))
		})
	}
}

// normalize maps a request value to what a reader of it gets back: dates in
// xs:dateTime columns come back as midnight date-times.
func normalize(v soap.Value) any {
	if v.Kind == soap.KindTable {
		rows := make([][]any, len(v.Table.Rows))
		for i, r := range v.Table.Rows {
			for _, c := range r {
				if c.Kind == soap.KindDate {
					c = soap.Value{Kind: soap.KindDateTime, Text: c.Text + "T00:00:00"}
				}
				rows[i] = append(rows[i], c)
			}
		}
		return []any{v.Table.Columns, rows}
	}
	return v
}

func TestDecodeSeedResponse(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "seed_response.xml"))
	require.NoError(t, err)
	defer f.Close()
	resp, err := soap.DecodeResponse(f, soap.Limits{})
	require.NoError(t, err)
	require.NoError(t, resp.Err())
	require.Equal(t, "ClientAdditionalParameterValueEdit", resp.Op)
	require.Equal(t, "SUCCESS", resp.Code)
	require.Equal(t, soap.KindTable, resp.Data.Kind)
	require.Equal(t, []soap.Column{
		{Name: "ResultCode", Type: soap.ValueType{Types: []string{"xs:string"}, String: &soap.StringQualifiers{}}},
		{Name: "ResultData"},
	}, resp.Data.Table.Columns)
	rows, err := resp.Rows()
	require.NoError(t, err)
	require.Equal(t, []soap.RowResult{
		{Code: "SUCCESS", Data: soap.Bool(true)},
		{Code: "SUCCESS", Data: soap.Bool(true)},
	}, rows)
}

func TestDecodeRecordedResponses(t *testing.T) {
	dir := reftest.Dir(t)
	t.Run("region_read", func(t *testing.T) {
		resp := decodeFile(t, filepath.Join(dir, "recorded", "region_read.response.xml"))
		require.Equal(t, "RegionRead", resp.Op)
		require.Equal(t, "SUCCESS", resp.Code)
		tab := resp.Data.Table
		require.NotNil(t, tab)
		require.Equal(t, "RegionID", tab.Columns[0].Name)
		require.Equal(t, []string{"xs:string", "Null"}, tab.Columns[0].Type.Types)
		require.Equal(t, "RegionName", tab.Columns[1].Name)
		require.Equal(t, &soap.StringQualifiers{Length: 50}, tab.Columns[1].Type.String)
		require.Equal(t, 109, len(tab.Rows))
		first := tab.Maps()[0]
		require.Equal(t, map[string]any{"RegionID": "9254945c-8135-11e9-80f6-0025904f970f", "RegionName": "Vietnam"}, first)
		name, ok := tab.Cell(len(tab.Rows)-1, "RegionName")
		require.True(t, ok)
		require.Equal(t, "Ярославская область", name.Text)
	})
	t.Run("department_read_zero_rows", func(t *testing.T) {
		resp := decodeFile(t, filepath.Join(dir, "recorded", "department_read.response.xml"))
		require.Equal(t, "DepartmentRead", resp.Op)
		require.Equal(t, "SUCCESS", resp.Code)
		tab := resp.Data.Table
		require.NotNil(t, tab)
		names := []string{}
		for _, c := range tab.Columns {
			names = append(names, c.Name)
		}
		require.Equal(t, []string{"DepartmentID", "Name", "Deleted"}, names)
		require.Equal(t, []string{"xs:boolean"}, tab.Columns[2].Type.Types)
		require.Empty(t, tab.Rows)
		require.Equal(t, []map[string]any{}, resp.Data.Interface())
	})
	t.Run("recorded_requests_decode", func(t *testing.T) {
		for _, name := range []string{"region_read.request.xml", "department_read.request.xml"} {
			f, err := os.Open(filepath.Join(dir, "recorded", name))
			require.NoError(t, err)
			v, req, err := soap.DecodeRequest(f, soap.Limits{})
			f.Close()
			require.NoError(t, err, name)
			require.Equal(t, soap.SOAP12, v)
			require.Equal(t, soap.KindStructure, req.Params.Kind)
			if req.Op == "DepartmentRead" {
				from, ok := req.Params.Prop("ChangedFrom")
				require.True(t, ok)
				require.Equal(t, soap.Value{Kind: soap.KindDateTime, Text: "2020-12-01T00:00:00"}, from)
			}
		}
	})
}

func decodeFile(t *testing.T, path string) *soap.Response {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	resp, err := soap.DecodeResponse(f, soap.Limits{})
	require.NoError(t, err)
	return resp
}

func TestResponseRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		resp soap.Response
	}{
		{"nil data", soap.Response{Op: "ClientUserEdit", Code: "SUCCESS"}},
		{"error string", soap.Response{Op: "ClientUserEdit", Code: "OUT_OF_LIMIT", Data: soap.String("limit reached")}},
		{"structure", soap.Response{Op: "ServiceRequestAdd", Code: "SUCCESS", Data: soap.Struct(soap.Property{Name: "ServiceRequestID", Value: soap.String("id-1")})}},
		{"per-row table with nil and empty type", soap.Response{Op: "ClientUserEdit", Code: "SUCCESS", Data: soap.TableValue(&soap.Table{
			Columns: []soap.Column{{Name: "ResultCode", Type: soap.TypeOf(soap.KindString)}, {Name: "ResultData"}},
			Rows: [][]soap.Value{
				{soap.String("SUCCESS"), soap.Null()},
				{soap.String("NOT_FOUND"), soap.String("ClientUserID: object not found")},
				{soap.String("SUCCESS"), soap.Struct(soap.Property{Name: "ID", Value: soap.String("x")})},
			},
		})}},
		{"zero rows", soap.Response{Op: "DepartmentRead", Code: "SUCCESS", Data: soap.TableValue(&soap.Table{
			Columns: []soap.Column{{Name: "DepartmentID", Type: soap.ValueType{Types: []string{"xs:string", "Null"}, String: &soap.StringQualifiers{}}}},
		})}},
		{"extra children", soap.Response{Op: "ServiceRequestDownloadFile", Code: "SUCCESS", Extra: []soap.Property{{Name: "fileData", Value: soap.String("aGVsbG8=")}}}},
	}
	for _, v := range []soap.Version{soap.SOAP11, soap.SOAP12} {
		for _, tc := range cases {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				var b bytes.Buffer
				require.NoError(t, soap.EncodeResponse(&b, v, &tc.resp))
				got, err := soap.DecodeResponse(&b, soap.Limits{})
				require.NoError(t, err)
				require.Equal(t, tc.resp, *got)
			})
		}
	}
}

func TestResponseErr(t *testing.T) {
	r := &soap.Response{Op: "ClientUserEdit", Code: "OUT_OF_LIMIT", Data: soap.String("limit reached")}
	err := r.Err()
	require.ErrorIs(t, err, soap.ErrOutOfLimit)
	var re *soap.ResultError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "limit reached", re.Reason)
	r.Code = "INVALID_PARAMS"
	require.NotErrorIs(t, r.Err(), soap.ErrOutOfLimit)
	require.False(t, soap.MayHaveBeenProcessed(r.Err()))
}

func TestDecodeFaults(t *testing.T) {
	for _, v := range []soap.Version{soap.SOAP11, soap.SOAP12} {
		t.Run(v.String(), func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, soap.EncodeFault(&b, v, "Client", "Неизвестная операция Foo"))
			_, err := soap.DecodeResponse(&b, soap.Limits{})
			var fe *soap.FaultError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "soap:Client", fe.Code)
			require.Equal(t, "Неизвестная операция Foo", fe.Reason)
		})
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	cases := map[string]string{
		"empty":              "",
		"not xml":            "HTTP/1.1 502 Bad Gateway",
		"not an envelope":    `<html><body>oops</body></html>`,
		"truncated":          `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return>`,
		"no return":          `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"></m:XResponse></soap:Body></soap:Envelope>`,
		"no result code":     `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return/></m:XResponse></soap:Body></soap:Envelope>`,
		"not a response":     `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:X xmlns:m="x"/></soap:Body></soap:Envelope>`,
		"undefined entity":   `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&a;</soap:Body></soap:Envelope>`,
		"mismatched closing": `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body></soap:Envelope>`,
		"too deep":           `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</m:return></m:XResponse></soap:Body></soap:Envelope>`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := soap.DecodeResponse(strings.NewReader(in), soap.Limits{})
			var de *soap.DecodeError
			require.ErrorAs(t, err, &de)
			require.True(t, soap.MayHaveBeenProcessed(err))
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	row := `<row><Value xsi:type="xs:string">a</Value><Value xsi:type="xs:string">b</Value></row>`
	msg := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Property xmlns="http://v8.1c.ru/8.1/data/core" name="ResultCode"><Value xsi:type="xs:string">SUCCESS</Value></Property><Property xmlns="http://v8.1c.ru/8.1/data/core" name="ResultData"><Value xsi:type="ValueTable">` +
		strings.Repeat(row, 50) + `</Value></Property></m:return></m:XResponse></soap:Body></soap:Envelope>`
	_, err := soap.DecodeResponse(strings.NewReader(msg), soap.Limits{})
	require.NoError(t, err)
	_, err = soap.DecodeResponse(strings.NewReader(msg), soap.Limits{MaxValues: 60})
	require.ErrorContains(t, err, "more than 60 values")
	_, err = soap.DecodeResponse(strings.NewReader(msg), soap.Limits{MaxDepth: 6})
	require.ErrorContains(t, err, "deeper than 6")
}

func TestInterface(t *testing.T) {
	v := soap.Struct(
		soap.Property{Name: "s", Value: soap.String("x")},
		soap.Property{Name: "n", Value: soap.Decimal("42")},
		soap.Property{Name: "f", Value: soap.Decimal("1.25")},
		soap.Property{Name: "b", Value: soap.Bool(true)},
		soap.Property{Name: "z", Value: soap.Null()},
		soap.Property{Name: "d", Value: soap.DateTime(time.Date(2024, 2, 26, 9, 7, 42, 0, time.UTC))},
	)
	require.Equal(t, map[string]any{"s": "x", "n": int64(42), "f": 1.25, "b": true, "z": nil, "d": "2024-02-26T09:07:42"}, v.Interface())
}

func TestEncodeEscapesHostileText(t *testing.T) {
	req := &soap.Request{Op: "ClientUserEdit", Params: soap.Struct(
		soap.Property{Name: "Имя", Value: soap.String("x\x00y</d4p1:Value>\uFFFE\r\"'&")},
	)}
	var b bytes.Buffer
	require.NoError(t, soap.EncodeRequest(&b, soap.SOAP11, req))
	_, back, err := soap.DecodeRequest(&b, soap.Limits{})
	require.NoError(t, err)
	require.Equal(t, "Имя", back.Params.Props[0].Name)
	require.Equal(t, "x\uFFFDy</d4p1:Value>\uFFFD\r\"'&", back.Params.Props[0].Value.Text)

	// A name that is not one is refused wherever it would go.
	for _, bad := range []*soap.Request{
		{Op: "bad op"},
		{Op: "X", Params: soap.Struct(soap.Property{Name: `a"b<c`, Value: soap.String("x")})},
		{Op: "X", Params: soap.Struct(soap.Property{Name: "S", Value: soap.Struct(soap.Property{Name: "1st", Value: soap.Null()})})},
		{Op: "X", Params: soap.TableValue(&soap.Table{Columns: []soap.Column{{Name: "a b"}}})},
		{Op: "X", Children: []soap.Property{{Name: "m:x", Value: soap.String("")}}},
	} {
		require.ErrorContains(t, soap.EncodeRequest(&b, soap.SOAP11, bad), "is not a name")
	}
	require.Error(t, soap.EncodeRequest(&b, soap.SOAP11, &soap.Request{Op: "X", Params: soap.String("not params")}))
	bad := &soap.Request{Op: "X", Params: soap.TableValue(&soap.Table{Columns: []soap.Column{{Name: "A"}}, Rows: [][]soap.Value{{}}})}
	require.ErrorContains(t, soap.EncodeRequest(&b, soap.SOAP11, bad), "row 0 has 0 cells for 1 columns")
}

// TestRows covers the per-row result table, as it arrives through the
// decoder: a row that does not have one cell per column, or whose code is
// not a code, is an unreadable answer, never a result.
func TestRows(t *testing.T) {
	t.Parallel()
	cols := []soap.Column{{Name: "ResultCode", Type: soap.TypeOf(soap.KindString)}, {Name: "ResultData"}}
	ok := []soap.Value{soap.String("SUCCESS"), soap.Bool(true)}
	table := func(cols []soap.Column, rows ...[]soap.Value) soap.Value {
		return soap.TableValue(&soap.Table{Columns: cols, Rows: rows})
	}
	// The encoder refuses rows that do not fit their columns: a peer's
	// answer is written out.
	raw := func(rows string) string {
		return `<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><m:ClientUserEditResponse xmlns:m="x"><m:return xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
			`<Property name="ResultCode"><Value>SUCCESS</Value></Property><Property name="ResultData"><Value xsi:type="ValueTable">` +
			`<column><Name>ResultCode</Name><ValueType><Type>xs:string</Type></ValueType></column><column><Name>ResultData</Name><ValueType/></column>` +
			rows + `</Value></Property></m:return></m:ClientUserEditResponse></soap:Body></soap:Envelope>`
	}
	cases := []struct {
		name    string
		data    soap.Value
		msg     string // the answer as written, instead of data
		sent    int    // for RowsFor; -1 for Rows
		want    []soap.RowResult
		problem string
	}{
		{name: "two rows", data: table(cols, ok, []soap.Value{soap.String("NOT_FOUND"), soap.String("no such user")}), sent: -1,
			want: []soap.RowResult{{Code: "SUCCESS", Data: soap.Bool(true)}, {Code: "NOT_FOUND", Data: soap.String("no such user")}}},
		{name: "fewer rows than sent", data: table(cols, ok), sent: 3, want: []soap.RowResult{{Code: "SUCCESS", Data: soap.Bool(true)}}},
		{name: "as many rows as sent", data: table(cols, ok, ok), sent: 2, want: []soap.RowResult{{Code: "SUCCESS", Data: soap.Bool(true)}, {Code: "SUCCESS", Data: soap.Bool(true)}}},
		{name: "no rows", data: table(cols), sent: 1, want: []soap.RowResult{}},
		{name: "no ResultData column", data: table(cols[:1], []soap.Value{soap.String("SUCCESS")}), sent: -1, want: []soap.RowResult{{Code: "SUCCESS"}}},
		{name: "more rows than sent", data: table(cols, ok, ok), sent: 1, problem: "2 rows for a packet of 1"},
		{name: "a shifted row", msg: raw(`<row><Value>SUCCESS</Value><Value xsi:type="xs:boolean">true</Value></row><row><Value xsi:type="xs:boolean">true</Value></row>`), sent: -1, problem: "row 2 has 1 cells for 2 columns"},
		{name: "a row too long", msg: raw(`<row><Value>SUCCESS</Value><Value xsi:nil="true"/><Value xsi:nil="true"/></row>`), sent: -1, problem: "row 1 has 3 cells for 2 columns"},
		{name: "a code that is not a string", data: table(cols, []soap.Value{soap.Bool(true), soap.Bool(true)}), sent: -1, problem: `row 1: ResultCode is xs:boolean "true"`},
		{name: "an empty code", data: table(cols, []soap.Value{soap.String(""), soap.Null()}), sent: -1, problem: "row 1: ResultCode is xs:string"},
		{name: "a nil code", data: table(cols, []soap.Value{soap.Null(), soap.Null()}), sent: -1, problem: "row 1: ResultCode is nil"},
		{name: "no ResultCode column", data: table([]soap.Column{{Name: "Code"}}, []soap.Value{soap.String("SUCCESS")}), sent: -1, problem: "no ResultCode column"},
		{name: "not a table", data: soap.Bool(true), sent: -1, problem: "packet result: xs:boolean, want a ValueTable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Through the wire, as the worker gets it.
			b := bytes.NewBufferString(tc.msg)
			if tc.msg == "" {
				require.NoError(t, soap.EncodeResponse(b, soap.SOAP12, &soap.Response{Op: "ClientUserEdit", Code: "SUCCESS", Data: tc.data}))
			}
			resp, err := soap.DecodeResponse(b, soap.Limits{})
			require.NoError(t, err)
			var rows []soap.RowResult
			if tc.sent < 0 {
				rows, err = resp.Rows()
			} else {
				rows, err = resp.RowsFor(tc.sent)
			}
			if tc.problem != "" {
				var de *soap.DecodeError
				require.ErrorAs(t, err, &de)
				require.Equal(t, "ClientUserEdit", de.Op)
				require.ErrorContains(t, err, tc.problem)
				require.Nil(t, rows)
				require.True(t, soap.MayHaveBeenProcessed(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}
}
