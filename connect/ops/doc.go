// Package ops holds one type per operation of the 1C-Connect server API,
// generated from the bridge's operation catalogue: the known parameters
// of each as typed fields, ready for connect.Client.Do, Submit and Bulk.
//
// Required parameters are plain fields (their zero value is not sent, so
// a forgotten one is refused as "required" before anything is
// published); optional ones are connect.Opt values, where not set means
// not sent and connect.Null sends a null. Operations whose parameters
// are not published, or published only in part, have a Fields map for
// the others. Dates and times are time.Time; identifiers are UUID
// strings; the doc comment of each field gives its bounds.
//
// Do not edit ops_gen.go: change the catalogue (internal/catalog) and run
// go generate ./connect/ops. A test fails while the two differ.
package ops

//go:generate go run ../internal/opsgen/run -o ops_gen.go
