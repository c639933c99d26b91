// Package contract is the wire contract between the services that send
// commands and the worker: subjects, headers, the command and result
// payloads in JSON and msgpack, the id and reply-subject rules, the
// redaction of secrets, and the result codes the worker itself gives;
// and what the bridge produces for its consumers, the change feed's
// events and mirror records and the exports' history rows (change.go,
// history.go), decoded with the bounds of results.
//
// Every byte of a command is hostile. Invariants:
//
//   - decoding never panics on any payload and names what is wrong (with
//     a byte offset where there is one), never quoting a value;
//   - what decoding allocates is proportional to the payload: a msgpack
//     payload is scanned before the library sees it (every declared
//     length must fit in the bytes that remain, nesting is at most
//     MaxDepth, containers at most MaxContainers), a JSON payload is
//     checked for UTF-8, depth and containers;
//   - decoding is lossless or refuses: invalid UTF-8 and lone surrogate
//     escapes are errors, not U+FFFD, so two different ids never decode
//     to one;
//   - one rule for ids (ValidID), whether from the payload or the
//     Nats-Msg-Id header (HeaderID);
//   - a result is encoded in the format ReadCommand gives its command
//     (JSON in, JSON out; unreadable in, JSON out);
//   - a reply subject is published to only when ReplyPolicy.Check allows
//     it: never a '$' subject, never one of the worker's own;
//   - Redact leaves no value of a secret field in a readable payload, and
//     does its best on an unreadable one;
//   - encoding a Result and decoding it gives the same Result.
package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Default subject prefixes, stream and bucket names. All are configurable
// in the worker; these are what a fresh installation uses.
const (
	CommandPrefix = "connect.cmd."    // + Operation
	ResultPrefix  = "connect.result." // + Operation
	DLQPrefix     = "connect.dlq."    // + Operation
	CommandStream = "CONNECT_CMD"
	ResultStream  = "CONNECT_RESULT"
	DLQStream     = "CONNECT_DLQ"
	OutcomeBucket = "CONNECT_OUTCOMES"
)

// Headers the contract uses.
const (
	// HeaderReplyTo names the subject a command's result is published to.
	// JetStream does not keep a message's reply subject, so it travels as
	// a header.
	HeaderReplyTo = "Connect-Reply-To"
	// HeaderContentType gives a payload's format: ContentTypeJSON or
	// ContentTypeMsgPack (see ReadCommand).
	HeaderContentType = "Content-Type"
	// HeaderMsgID is JetStream's de-duplication id; commands set it to
	// their id.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderDLQReason and HeaderDLQCode say why a command was put in the
	// dead-letter stream; HeaderDLQSubject keeps its original subject.
	HeaderDLQReason  = "Connect-Dlq-Reason"
	HeaderDLQCode    = "Connect-Dlq-Code"
	HeaderDLQSubject = "Connect-Dlq-Subject"
	// HeaderDLQTruncated says that a dead letter's payload was cut to fit
	// the server's max payload, or left out, and how much;
	// HeaderDLQHeadersDropped how many original headers did not fit.
	HeaderDLQTruncated      = "Connect-Dlq-Truncated"
	HeaderDLQHeadersDropped = "Connect-Dlq-Headers-Dropped"
)

// ContentTypeJSON is the Content-Type of JSON payloads.
const ContentTypeJSON = "application/json"

// Result codes the worker gives itself. Any other code is the API's own
// ResultCode for the command's row (SUCCESS, or the service's error code).
const (
	CodeSuccess = "SUCCESS"
	// CodeInvalidCommand: the payload is unreadable or has no id.
	CodeInvalidCommand = "INVALID_COMMAND"
	// CodeUnknownOperation: the subject names no operation of the API.
	CodeUnknownOperation = "UNKNOWN_OPERATION"
	// CodeInvalidFields: the fields fail the catalogue's checks; Error
	// lists every problem.
	CodeInvalidFields = "INVALID_FIELDS"
	// CodeTransportError: the call kept failing and retries ran out.
	CodeTransportError = "TRANSPORT_ERROR"
	// CodeUnknownOutcome: a call that creates objects was cut after it was
	// sent; whether the service ran it is unknown, so it is not repeated.
	CodeUnknownOutcome = "UNKNOWN_OUTCOME"
	// CodeSOAPFault: the service raised an exception on this command alone,
	// every time it was sent.
	CodeSOAPFault = "SOAP_FAULT"
	// CodeReplyRefused: the Connect-Reply-To header names a subject the
	// worker may not publish to (not within the allow-list, a '$' subject,
	// one of the worker's own); Error says why. The command is not run.
	CodeReplyRefused = "REPLY_REFUSED"
	// CodePoison: the command was delivered MaxDeliver times without
	// getting a result (workers died holding it); it is not read again.
	CodePoison = "POISON"
	// CodeResultTooLarge: the API answered, but its data is larger than a
	// NATS message may be; Error says how large. Narrow the read (e.g. with
	// ChangedFrom or a filter) and send it again.
	CodeResultTooLarge = "RESULT_TOO_LARGE"
)

// Command is one request to run an operation on one object.
type Command struct {
	// ID is the producer's unique id of the command; it is also the
	// Nats-Msg-Id, and results carry it.
	ID string `json:"id" msgpack:"id"`
	// Fields are the operation's parameters by their API names.
	Fields map[string]any `json:"fields" msgpack:"fields"`
}

// Format is a payload encoding.
type Format uint8

// The two payload formats.
const (
	MsgPack Format = iota
	JSON
)

// String returns "msgpack" or "json".
func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "msgpack"
}

// Result is a command's one final result.
type Result struct {
	// ID is the command's id.
	ID string `json:"id" msgpack:"id"`
	// Op is the operation.
	Op string `json:"op" msgpack:"op"`
	// Code is the row's ResultCode from the API, or one of the worker's
	// own codes (CodeInvalidCommand…).
	Code string `json:"code" msgpack:"code"`
	// Data is the row's ResultData: nil, a scalar, an object for a
	// Structure, a list of row objects for a ValueTable.
	Data any `json:"data" msgpack:"data"`
	// Error explains a code other than SUCCESS.
	Error string `json:"error,omitempty" msgpack:"error,omitempty"`
	// Batch identifies the API call that carried the command's final
	// attempt; empty when it was never sent.
	Batch string `json:"batch,omitempty" msgpack:"batch,omitempty"`
	// Row is the command's 1-based row in that call, Rows the call's row
	// count; zero when it was never sent.
	Row  int `json:"row" msgpack:"row"`
	Rows int `json:"rows" msgpack:"rows"`
	// Attempts is how many calls carried the command.
	Attempts int `json:"attempts" msgpack:"attempts"`
	// CollapsedInto is set when the command was not sent itself: it was
	// an edit of the same object with the same fields as a later command,
	// whose row carried the later values (which is what applying both in
	// order leaves), and it shares that row's result. It is the later
	// command's id.
	CollapsedInto string `json:"collapsed_into,omitempty" msgpack:"collapsed_into,omitempty"`
	// At is when the result was decided, UTC.
	At time.Time `json:"at" msgpack:"at"`
	// Fields, for INVALID_FIELDS, are the fields and what is wrong with
	// each, the same as Error says in words.
	Fields []FieldProblem `json:"fields,omitempty" msgpack:"fields,omitempty"`
}

// FieldProblem is what is wrong with one field of a command.
type FieldProblem struct {
	Field   string `json:"field" msgpack:"field"`
	Problem string `json:"problem" msgpack:"problem"`
}

// OK reports whether the command succeeded.
func (r Result) OK() bool { return r.Code == CodeSuccess }

// recordMaxDepth bounds the nesting of results and outcome records. A
// result's data comes from the API's XML answer, which the soap decoder
// reads at most 64 elements deep (its default MaxDepth), and every level
// of data is at least one level of XML.
const recordMaxDepth = 64

// EncodeResult writes r in format f. Its strings are made valid UTF-8
// (U+FFFD for bad bytes) in both formats, as encoding/json does, since an
// operation name comes from a subject, which may hold any bytes.
func EncodeResult(f Format, r Result) ([]byte, error) {
	if f == JSON {
		return json.Marshal(r)
	}
	for _, s := range []*string{&r.ID, &r.Op, &r.Code, &r.Error, &r.Batch} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	return msgpack.Marshal(r)
}

// DecodeResult reads a result of either format: JSON when the first
// non-space byte is '{', msgpack otherwise. Results are checked like
// commands before they are decoded (see DecodeCommand), with a depth of
// 64 for their data.
func DecodeResult(payload []byte) (Result, error) {
	var r Result
	var err error
	if startsJSON(payload) {
		if err = checkJSON(payload, recordLimits()); err == nil {
			d := json.NewDecoder(bytes.NewReader(payload))
			d.UseNumber()
			err = d.Decode(&r)
		}
	} else if err = scanRecord(payload); err == nil {
		err = msgpack.Unmarshal(payload, &r)
	}
	if err != nil {
		return Result{}, fmt.Errorf("contract: result payload: %w", err)
	}
	return r, nil
}

// scanRecord checks a msgpack result or outcome record before it is
// decoded: a map, well-formed, at most recordMaxDepth deep. Records have
// no container limit: a read's data is one map per row.
func scanRecord(b []byte) error {
	top, err := scanMsgpack(b, recordLimits())
	if err == nil && !isMsgpackMap(top) {
		err = fmt.Errorf("a msgpack %s, not a map", mpKind(top))
	}
	return err
}

// OutcomeKey is the key of a command's outcome in the outcome bucket:
// the operation, a dot, and the id in unpadded base64url (key-value keys
// allow only a few characters; ids may hold any).
func OutcomeKey(op, id string) string {
	return op + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// ResultMsgID is the Nats-Msg-Id of a command's result in the result
// stream, so that a result published twice (after a crash) is stored once.
func ResultMsgID(op, id string) string { return "result." + OutcomeKey(op, id) }

// Outcome states kept in the outcome bucket.
const (
	// StateSent marks a command of an operation that is not safe to repeat
	// as sent to the API, before the call; if the worker dies before the
	// answer, the command's outcome is unknown and it is not sent again.
	StateSent = "sent"
	// StateFinal marks a command whose final result is decided.
	StateFinal = "final"
)

// Outcome is what the outcome bucket keeps per command (msgpack).
type Outcome struct {
	State  string  `msgpack:"state"`
	Batch  string  `msgpack:"batch,omitempty"`
	Result *Result `msgpack:"result,omitempty"`
}

// EncodeOutcome writes o as msgpack.
func EncodeOutcome(o Outcome) ([]byte, error) { return msgpack.Marshal(o) }

// DecodeOutcome reads an outcome record.
func DecodeOutcome(b []byte) (Outcome, error) {
	var o Outcome
	err := scanRecord(b)
	if err == nil {
		err = msgpack.Unmarshal(b, &o)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("contract: outcome record: %w", err)
	}
	if o.State != StateSent && o.State != StateFinal {
		return Outcome{}, fmt.Errorf("contract: outcome record has state %q", o.State)
	}
	if o.State == StateFinal && o.Result == nil {
		return Outcome{}, errors.New("contract: final outcome record without a result")
	}
	return o, nil
}
