package feed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Default names of the feeds' streams, buckets and subjects. The wire
// names and types (the event, the mirror record and key) are the
// contract's, so that a consumer reads them without this package.
const (
	ChangeStream  = contract.ChangeStream
	ChangePrefix  = contract.ChangePrefix // + Object
	MirrorBucket  = contract.MirrorBucket
	MarkerBucket  = "CONNECT_FEEDS"
	LeaseBucket   = "CONNECT_FEED_LEASES"
	HeaderObject  = contract.HeaderObjectID
	contentType   = contract.HeaderContentType
	headerMsgID   = contract.HeaderMsgID
	jsonType      = contract.ContentTypeJSON
	msgpackType   = contract.ContentTypeMsgPack
	deletedColumn = "Deleted"
)

// Event is one state of one object, as a feed saw it (contract.ChangeEvent).
type Event = contract.ChangeEvent

// Record is an object's state in the mirror (contract.MirrorRecord).
type Record = contract.MirrorRecord

// MirrorKey is the object's key in the mirror (contract.MirrorKey).
func MirrorKey(object, id string) string { return contract.MirrorKey(object, id) }

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

// DecodeEvent reads an event of either format (contract.DecodeChangeEvent).
func DecodeEvent(payload []byte) (Event, error) { return contract.DecodeChangeEvent(payload) }

// record is the mirror record of e.
func record(e Event) Record {
	return Record{Data: e.Data, Deleted: e.Deleted, Version: e.Version, Seen: e.Seen, Read: e.Read}
}
