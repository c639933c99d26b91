package emulator

import (
	"io"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// reply is the ResultData of a successful read, written after the
// Server's lock is released: a read of stored objects (answer) or of the
// generated history (historyAnswer).
type reply interface {
	// write writes the successful answer of op, in SOAP version v, to w.
	write(w io.Writer, v soap.Version, op string) error
	// count returns the rows written.
	count() int
}

// answer is the ResultData of a read of stored objects: its columns and
// copies of the records it answers, taken under the Server's lock so that
// the read sees one moment of the store. It is written out after the lock
// is released, a row at a time, so that a read of 100,000 objects costs
// their records' copies (about 100 bytes each: the fields maps are shared,
// which is safe because a record's map is replaced, never changed in
// place) rather than the answer's table and its text.
type answer struct {
	cols []column
	recs []record
}

// rows yields the answer's rows in order; the slice is reused for the
// next row.
func (a *answer) rows(yield func([]soap.Value) bool) {
	row := make([]soap.Value, len(a.cols))
	for i := range a.recs {
		for j, col := range a.cols {
			row[j] = col.cell(&a.recs[i])
		}
		if !yield(row) {
			return
		}
	}
}

func (a *answer) count() int { return len(a.recs) }

// write writes the successful answer of op, in SOAP version v, to w.
func (a *answer) write(w io.Writer, v soap.Version, op string) error {
	return soap.EncodeResponseRows(w, v, op, columnsOf(a.cols), a.rows)
}
