package connect

import "maps"

// Operation is one operation of the API with the fields of one command:
// a generated type of package ops, or Raw.
type Operation interface {
	// OperationName is the operation's name in the API, e.g.
	// "ClientUserEdit"; the command goes to connect.cmd.<name>.
	OperationName() string
	// CommandFields returns the fields to send by their API names, with
	// values of the forms the contract carries (string, float64, bool,
	// nil for a null, []byte). A field absent from the map is not sent.
	CommandFields() (map[string]any, error)
}

// Raw is an operation given by name with its fields as a map, for what
// the generated types do not cover. Values are sent as they are
// (strings, numbers, booleans, nil, []byte; dates as "2006-01-02", times
// as "2006-01-02T15:04:05").
type Raw struct {
	// Op is the operation's name.
	Op string
	// Fields are the parameters by their API names.
	Fields map[string]any
}

// OperationName returns r.Op.
func (r Raw) OperationName() string { return r.Op }

// CommandFields returns a copy of r.Fields.
func (r Raw) CommandFields() (map[string]any, error) {
	if r.Fields == nil {
		return map[string]any{}, nil
	}
	return maps.Clone(r.Fields), nil
}

// Opt is an optional field of a generated operation: not set (the zero
// Opt) is not sent, Set(v) sends v, Null() sends a null, which clears
// the value where the service allows it.
type Opt[T any] struct {
	v     T
	state uint8 // 0 not set, 1 set, 2 null
}

// Set returns an Opt that sends v.
func Set[T any](v T) Opt[T] { return Opt[T]{v: v, state: 1} }

// Null returns an Opt that sends a null.
func Null[T any]() Opt[T] { return Opt[T]{state: 2} }

// Get returns the value and whether one is set (false for not set and
// for null).
func (o Opt[T]) Get() (T, bool) { return o.v, o.state == 1 }

// IsSet reports whether the field is sent, as a value or as a null.
func (o Opt[T]) IsSet() bool { return o.state != 0 }

// IsNull reports whether the field is sent as a null.
func (o Opt[T]) IsNull() bool { return o.state == 2 }
