package catalog

import (
	"errors"
	"fmt"
	"strings"
)

// The names change tracking is spoken in.
const (
	// ParamChangedFrom is the parameter of a change-tracked read: an
	// xs:dateTime in the account's time zone (set in its cabinet), to the
	// second; the read answers the objects changed at or after it.
	ParamChangedFrom = "ChangedFrom"
	// ColumnDeleted is the xs:boolean result column that marks a deleted
	// object in a change-tracked read's rows.
	ColumnDeleted = "Deleted"
)

// Sentinels of LookupChangeTracked, for errors.Is.
var (
	// ErrUnknownOperation: no operation of the API has the name.
	ErrUnknownOperation = errors.New("catalog: unknown operation")
	// ErrNotChangeTracked: the operation does not take ChangedFrom, so no
	// change feed can follow it.
	ErrNotChangeTracked = errors.New("catalog: operation does not take ChangedFrom")
)

// ChangeTracked reports whether op is a change-tracked read (it takes
// ChangedFrom and answers deleted objects with Deleted=true), and how sure
// the catalogue is of it: Confirmed where the service's documentation says
// so, Inferred where the catalogue follows the pattern.
func (op *Operation) ChangeTracked() (Source, bool) {
	return op.ChangedFrom, op.ChangedFrom != 0
}

// ChangeFilters returns the known parameters a change-tracked read takes
// besides ChangedFrom, each filtering the objects it answers
// (ClientUserRead: ClientID); nil for other operations and for reads that
// take none. Where ParamsKnown is false the service may take others that
// are not published.
func (op *Operation) ChangeFilters() []Param {
	if op.ChangedFrom == 0 {
		return nil
	}
	var out []Param
	for _, p := range op.Params {
		if p.Name != ParamChangedFrom {
			out = append(out, p)
		}
	}
	return out
}

// ChangeTracked returns the change-tracked reads, sorted by name. The
// slice is new on each call; its elements point into the shared table.
func ChangeTracked() []*Operation {
	var out []*Operation
	for i := range operations {
		if operations[i].ChangedFrom != 0 {
			out = append(out, &operations[i])
		}
	}
	return out
}

// LookupChangeTracked returns the change-tracked read named name. An
// unknown name is an error wrapping ErrUnknownOperation; an operation that
// does not take ChangedFrom is one wrapping ErrNotChangeTracked, and both
// list the reads that do, so that a feed configured on the wrong read is
// refused at start with the fix in its message.
func LookupChangeTracked(name string) (*Operation, error) {
	op, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: a change feed follows one of %s", ErrUnknownOperation, name, trackedNames())
	}
	if _, ok := op.ChangeTracked(); !ok {
		return nil, fmt.Errorf("%w: %s is a %s; a change feed follows one of %s", ErrNotChangeTracked, name, op.Kind, trackedNames())
	}
	return op, nil
}

// trackedNames lists the change-tracked reads with their sources, for an
// error message: "ClientRead (confirmed), …".
func trackedNames() string {
	var b strings.Builder
	for i, op := range ChangeTracked() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(op.Name + " (" + op.ChangedFrom.String() + ")")
	}
	return b.String()
}
