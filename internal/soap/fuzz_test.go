package soap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// allocBound is how many bytes the decoder may allocate per input byte, on
// top of a fixed allowance: the decoder's cost must stay a constant factor of
// what the peer sent, whatever it sent.
const (
	allocPerByte = 160
	allocFixed   = 256 << 10
)

// hostileSeeds are inputs built to make a parser blow up: entity expansion,
// deep nesting, huge attributes and names, many empty values.
func hostileSeeds() []string {
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>` +
		`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return><Property name="ResultCode"><Value>&lol3;</Value></Property></m:return></m:XResponse></soap:Body></soap:Envelope>`
	head := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:XResponse xmlns:m="x"><m:return xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Property name="ResultData">`
	tail := `</Property></m:return></m:XResponse></soap:Body></soap:Envelope>`
	return []string{
		laughs,
		head + strings.Repeat(`<Value xsi:type="Structure"><Property name="a">`, 2000) + tail,
		head + `<Value xsi:type="ValueTable"` + strings.Repeat(` a`+"x"+`="`+strings.Repeat("y", 1000)+`"`, 1) + `>` + strings.Repeat(`<row>`+strings.Repeat(`<Value/>`, 100)+`</row>`, 100) + `</Value>` + tail,
		head + `<Value xsi:type="xs:string" big="` + strings.Repeat("z", 100000) + `">x</Value>` + tail,
		`<` + strings.Repeat("n", 100000) + `/>`,
	}
}

func FuzzDecodeResponse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	var b bytes.Buffer
	_ = soap.EncodeFault(&b, soap.SOAP12, "Receiver", "x")
	f.Add(b.Bytes())
	for _, s := range hostileSeeds() {
		if len(s) < 4096 {
			// Long seeds slow every mutation down; TestHostileInputsBounded
			// runs them all.
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := soap.DecodeResponse(bytes.NewReader(in), soap.Limits{})
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(in)+allocFixed); got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(in), got, limit)
		}
		if err == nil {
			// Whatever decodes, the packet view and plain view never panic.
			_, _ = resp.Rows()
			_ = resp.Data.Interface()
			_ = resp.Err()
		} else if resp != nil {
			t.Fatalf("error %v with a response", err)
		}
		// The same bytes read as a request (the sandbox's side) never panic.
		_, _, _ = soap.DecodeRequest(bytes.NewReader(in), soap.Limits{})
	})
}

// TestHostileInputsBounded runs the hostile seeds in every `go test`, not only
// under -fuzz.
func TestHostileInputsBounded(t *testing.T) {
	for i, s := range hostileSeeds() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := soap.DecodeResponse(strings.NewReader(s), soap.Limits{})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("seed %d: hostile input decoded without error", i)
		}
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(s)+allocFixed); got > limit {
			t.Errorf("seed %d: %d bytes allocated for %d input bytes (limit %d)", i, got, len(s), limit)
		}
	}
}
