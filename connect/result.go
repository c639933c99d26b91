package connect

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Result is a command's one final result.
type Result struct {
	// ID is the command's id, Op its operation.
	ID, Op string
	// Code is SUCCESS, one of the worker's codes (INVALID_FIELDS…) or the
	// service's own code for the command's row.
	Code string
	// Message explains a code other than SUCCESS.
	Message string
	// Data is the row's result data as decoded: nil, a scalar, a map (a
	// Structure, e.g. the new object's id after an Add) or a list of maps
	// (the rows of a read). Decode reads it into a type of the caller's.
	Data any
	// Batch names the API call that carried the command; Row is its row
	// in that call (from 1) and Rows the call's row count. Empty and zero
	// when it was never sent.
	Batch     string
	Row, Rows int
	// Attempts is how many API calls carried the command.
	Attempts int
	// CollapsedInto is set when the command was an edit collapsed into a
	// later edit of the same object: the id of the command whose row
	// carried it, and whose result this is.
	CollapsedInto string
	// At is when the worker decided the result, UTC.
	At time.Time
	// Recovered is set when the result was read from the worker's outcome
	// bucket rather than received as a reply (the reply was lost to a
	// reconnection, or late).
	Recovered bool
	// fields are the worker's structured field problems (INVALID_FIELDS).
	fields []contract.FieldProblem
}

// OK reports whether the command succeeded.
func (r Result) OK() bool { return r.Code == contract.CodeSuccess }

// Err returns nil for SUCCESS and a *ResultError otherwise.
func (r Result) Err() error { return resultError(r) }

// Decode reads Data into v, as encoding/json would read it from the
// result's JSON: a pointer to a struct (fields matched by name, or by
// their json tags), a map or a slice of them for a read's rows.
func (r Result) Decode(v any) error { return decodeData(r.Data, v, r.Op+" "+r.ID) }

// decodeData reads data (decoded JSON or msgpack) into v through its
// JSON; what names the value in errors.
func decodeData(data, v any, what string) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("connect: %s: data: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("connect: %s: decode data: %w", what, err)
	}
	return nil
}

// fromContract converts a decoded result.
func fromContract(r contract.Result, recovered bool) Result {
	return Result{
		ID: r.ID, Op: r.Op, Code: r.Code, Message: r.Error, Data: r.Data,
		Batch: r.Batch, Row: r.Row, Rows: r.Rows, Attempts: r.Attempts,
		CollapsedInto: r.CollapsedInto, At: r.At, Recovered: recovered, fields: r.Fields,
	}
}
