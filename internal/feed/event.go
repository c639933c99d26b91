package feed

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Default names of the feeds' streams, buckets and subjects.
const (
	ChangeStream  = "CONNECT_CHANGES"
	ChangePrefix  = "connect.change." // + Object
	MirrorBucket  = "CONNECT_MIRROR"
	MarkerBucket  = "CONNECT_FEEDS"
	LeaseBucket   = "CONNECT_FEED_LEASES"
	HeaderObject  = "Connect-Object-Id"
	contentType   = "Content-Type"
	headerMsgID   = "Nats-Msg-Id"
	jsonType      = "application/json"
	msgpackType   = "application/msgpack"
	deletedColumn = "Deleted"
)

// Event is one state of one object, as a feed saw it.
type Event struct {
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
func (e Event) MsgID() string { return e.Object + "." + e.ID + "." + e.Version }

// Subject is where the event is published, under prefix.
func (e Event) Subject(prefix string) string { return prefix + e.Object }

// MirrorKey is the object's key in the mirror: the object name, a dot,
// and the id in unpadded base64url (key-value keys allow few characters).
func MirrorKey(object, id string) string {
	return object + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// rowEvent makes the event of one row of a read of object, whose id
// columns are idCols; seen is when the read was made.
func rowEvent(read, object string, idCols []string, cols []soap.Column, row []soap.Value, seen time.Time) (Event, error) {
	e := Event{Object: object, Read: read, Seen: seen.UTC(), Data: make(map[string]any, len(cols))}
	for i, c := range cols {
		if i >= len(row) {
			break
		}
		e.Data[c.Name] = row[i].Interface()
		if c.Name == deletedColumn {
			e.Deleted = row[i].Kind == soap.KindBoolean && row[i].Text == "true"
		}
	}
	parts := make([]string, len(idCols))
	for i, name := range idCols {
		v, ok := e.Data[name]
		s, isString := v.(string)
		if !ok || !isString || s == "" {
			return Event{}, fmt.Errorf("feed: %s: a row without its %s", read, name)
		}
		parts[i] = s
	}
	e.ID = strings.Join(parts, "/")
	v, err := version(e.Data, e.Deleted)
	if err != nil {
		return Event{}, err
	}
	e.Version = v
	return e, nil
}

// version hashes an object's state: its data (as canonical JSON: keys
// sorted) and its deleted flag.
func version(data map[string]any, deleted bool) (string, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("feed: version: %w", err)
	}
	h := sha256.New()
	h.Write(b)
	if deleted {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// encodeEvent writes e as JSON, or msgpack when asked.
func encodeEvent(e Event, asMsgpack bool) ([]byte, string, error) {
	if asMsgpack {
		b, err := msgpack.Marshal(e)
		return b, msgpackType, err
	}
	b, err := json.Marshal(e)
	return b, jsonType, err
}

// DecodeEvent reads an event of either format.
func DecodeEvent(payload []byte) (Event, error) {
	var e Event
	var err error
	if len(payload) > 0 && payload[0] == '{' {
		err = json.Unmarshal(payload, &e)
	} else {
		err = msgpack.Unmarshal(payload, &e)
	}
	if err != nil {
		return Event{}, fmt.Errorf("feed: event: %w", err)
	}
	return e, nil
}

// Record is an object's state in the mirror (JSON, so that any NATS
// client can read it).
type Record struct {
	Data    map[string]any `json:"data"`
	Deleted bool           `json:"deleted"`
	Version string         `json:"version"`
	Seen    time.Time      `json:"seen"`
	// Read is the read that saw this state.
	Read string `json:"read"`
}

// record is the mirror record of e.
func record(e Event) Record {
	return Record{Data: e.Data, Deleted: e.Deleted, Version: e.Version, Seen: e.Seen, Read: e.Read}
}
