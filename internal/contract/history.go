package contract

import (
	"fmt"
	"time"
)

// Default names of the exports' stream, subjects and headers (package
// export publishes them; any NATS client may read them).
const (
	HistoryStream = "CONNECT_HISTORY"
	HistoryPrefix = "connect.history." // + Operation
	// HeaderExport names the export that published a row.
	HeaderExport = "Connect-Export"
	// HeaderRowID is a history row's identity: its id column's value, or
	// the hash of its content. A row published again beyond the stream's
	// duplicate window carries the same one.
	HeaderRowID = "Connect-Row-Id"
)

// HistoryRow is one row of a history or statistics read, as an export
// publishes it: JSON, one message per row.
type HistoryRow struct {
	// Op is the read, e.g. GetHistoryOfServiceCalls.
	Op string `json:"op"`
	// Row holds the row's cells by column name, typed as in results
	// (times as the service wrote them: wall clocks of its zone). A row
	// too large for a message is a reference to the object holding it
	// ({"$object": …}).
	Row map[string]any `json:"row"`
	// Period is the period read, [From, To), in the account's zone.
	Period HistoryPeriod `json:"period"`
	// Seen is when the read was made, UTC.
	Seen time.Time `json:"seen"`
}

// HistoryPeriod is the period a row was read in: from From (included)
// to To (excluded).
type HistoryPeriod struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// HistoryMsgID is the Nats-Msg-Id of the row of op whose identity is id:
// the operation, a dot and the identity.
func HistoryMsgID(op, id string) string { return op + "." + id }

// DecodeHistoryRow reads a published row, checked as DecodeChangeEvent
// checks an event.
func DecodeHistoryRow(payload []byte) (HistoryRow, error) {
	var r HistoryRow
	err := errNotJSONObject
	if startsJSON(payload) {
		err = decodeRecord(payload, &r)
	}
	if err != nil {
		return HistoryRow{}, fmt.Errorf("contract: history row: %w", err)
	}
	return r, nil
}
