package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Default names of the exports' stream, buckets, subjects and headers.
// The wire names and types (the row, its headers) are the contract's, so
// that a consumer reads them without this package.
const (
	HistoryStream = contract.HistoryStream
	HistoryPrefix = contract.HistoryPrefix // + Operation
	MarkerBucket  = "CONNECT_EXPORTS"
	LeaseBucket   = "CONNECT_EXPORT_LEASES"
	// HeaderExport names the export that published a row.
	HeaderExport = contract.HeaderExport
	// HeaderRowID is the row's identity: its id column's value, or the
	// hash of its content (see Row.ID).
	HeaderRowID = contract.HeaderRowID
	headerMsgID = contract.HeaderMsgID
	contentType = contract.HeaderContentType
	jsonType    = contract.ContentTypeJSON
)

// Row is one row of a history or statistics read, as an export
// publishes it (contract.HistoryRow).
type Row = contract.HistoryRow

// Period is the period a row was read in (contract.HistoryPeriod).
type Period = contract.HistoryPeriod

// MsgID is the Nats-Msg-Id of the row whose identity is id
// (contract.HistoryMsgID).
func MsgID(op, id string) string { return contract.HistoryMsgID(op, id) }

// Subject is where rows of op are published, under prefix.
func Subject(prefix, op string) string { return prefix + op }

// maxIDBytes bounds an id column's value used as the identity: a longer
// one (or one that is not printable UTF-8) is not an id a header can
// carry, and the row is identified by its hash.
const maxIDBytes = 128

// identity finds the identity of rows of one answer: a row's id column
// value where it has one (a non-empty, printable string), else the hash
// of its content, numbered from the second identical row of the answer
// on (".2", ".3"…), so that rows that are alike are not dropped as one.
// Identical rows share their period's time, so they are in one answer
// however the period is cut into chunks.
type identity struct {
	idCol string
	// same counts the rows of each hash seen in the answer.
	same map[string]int
}

func newIdentity(idCol string) *identity {
	return &identity{idCol: idCol, same: map[string]int{}}
}

// of returns the identity of row (by column name) and whether it is its
// id column's.
func (id *identity) of(row map[string]any) (string, bool, error) {
	if id.idCol != "" {
		if s, ok := row[id.idCol].(string); ok && validID(s) {
			return s, true, nil
		}
	}
	h, err := hashRow(row)
	if err != nil {
		return "", false, err
	}
	id.same[h]++
	if n := id.same[h]; n > 1 {
		return h + "." + strconv.Itoa(n), false, nil
	}
	return h, false, nil
}

// validID reports whether s can be a row's identity in a header and a
// message id: printable UTF-8, no spaces, not too long.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// hashRow is the hash of a row's content: sha256 of its canonical JSON
// (keys sorted), the first 16 bytes in hex.
func hashRow(row map[string]any) (string, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return "", fmt.Errorf("export: row hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// rowMap returns a row's cells by column name.
func rowMap(cols []soap.Column, row []soap.Value) map[string]any {
	m := make(map[string]any, len(cols))
	for i, c := range cols {
		if i < len(row) {
			m[c.Name] = row[i].Interface()
		}
	}
	return m
}

// DecodeRow reads a published row (contract.DecodeHistoryRow).
func DecodeRow(payload []byte) (Row, error) { return contract.DecodeHistoryRow(payload) }
