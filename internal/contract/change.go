package contract

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Default names of the change feed's stream, subjects, mirror and
// headers (package feed publishes them; any NATS client may read them).
const (
	ChangeStream = "CONNECT_CHANGES"
	ChangePrefix = "connect.change." // + Object
	MirrorBucket = "CONNECT_MIRROR"
	// HeaderObjectID carries a change event's object id.
	HeaderObjectID = "Connect-Object-Id"
)

// ChangeEvent is one state of one object, as a feed saw it: the payload
// of connect.change.<Object>, JSON or msgpack.
type ChangeEvent struct {
	// Object is the catalogue's object name of the read, e.g. ClientUser.
	Object string `json:"object" msgpack:"object"`
	// ID is the object's id: its id column, or the values of its id
	// columns joined by "/".
	ID string `json:"id" msgpack:"id"`
	// Deleted reports that the object is deleted (the row's Deleted).
	Deleted bool `json:"deleted" msgpack:"deleted"`
	// Data is the row, keyed by column name, typed as in results.
	Data map[string]any `json:"data" msgpack:"data"`
	// Read is the operation that read it.
	Read string `json:"read" msgpack:"read"`
	// Seen is when the read was made, UTC.
	Seen time.Time `json:"seen" msgpack:"seen"`
	// Version is a hash of Data and Deleted: equal versions, equal states.
	Version string `json:"version" msgpack:"version"`
}

// MsgID is the event's Nats-Msg-Id: the same state published twice is
// stored once within the stream's duplicate window.
func (e ChangeEvent) MsgID() string { return e.Object + "." + e.ID + "." + e.Version }

// Subject is where the event is published, under prefix.
func (e ChangeEvent) Subject(prefix string) string { return prefix + e.Object }

// MirrorKey is the object's key in the mirror: the object name, a dot,
// and the id in unpadded base64url (key-value keys allow few characters).
func MirrorKey(object, id string) string {
	return object + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeChangeEvent reads an event of either format: JSON when the first
// non-space byte is '{', msgpack otherwise. It is checked like a result
// first (valid UTF-8, at most 64 levels deep, msgpack lengths within the
// payload), so that what decoding allocates is bounded by the payload.
func DecodeChangeEvent(payload []byte) (ChangeEvent, error) {
	var e ChangeEvent
	if err := decodeRecord(payload, &e); err != nil {
		return ChangeEvent{}, fmt.Errorf("contract: change event: %w", err)
	}
	return e, nil
}

// MirrorRecord is an object's state in the mirror, JSON under its
// MirrorKey, so that any NATS client can read it.
type MirrorRecord struct {
	Data    map[string]any `json:"data"`
	Deleted bool           `json:"deleted"`
	Version string         `json:"version"`
	Seen    time.Time      `json:"seen"`
	// Read is the read that saw this state.
	Read string `json:"read"`
}

// errNotJSONObject refuses a payload of a JSON-only record that does not
// start as a JSON object.
var errNotJSONObject = errors.New("not a JSON object")

// DecodeMirrorRecord reads a mirror record, checked as DecodeChangeEvent
// checks an event.
func DecodeMirrorRecord(payload []byte) (MirrorRecord, error) {
	var r MirrorRecord
	err := errNotJSONObject
	if startsJSON(payload) {
		err = decodeRecord(payload, &r)
	}
	if err != nil {
		return MirrorRecord{}, fmt.Errorf("contract: mirror record: %w", err)
	}
	return r, nil
}

// decodeRecord decodes a JSON object or a msgpack map into v after the
// checks of results (checkJSON, scanRecord). JSON numbers become
// float64, as encoding/json makes them.
func decodeRecord(payload []byte, v any) error {
	if startsJSON(payload) {
		if err := checkJSON(payload, recordLimits()); err != nil {
			return err
		}
		return json.Unmarshal(payload, v)
	}
	if err := scanRecord(payload); err != nil {
		return err
	}
	return msgpack.Unmarshal(payload, v)
}
