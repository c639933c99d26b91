// Package contract is the wire contract between the services that send
// commands and the worker: subjects, headers, the command and result
// payloads in JSON and msgpack, and the result codes the worker itself
// gives.
//
// Invariants: decoding never panics on any payload and names what is
// wrong; a result is encoded in the format of its command (JSON in, JSON
// out); encoding a Result and decoding it gives the same Result.
package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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
	// HeaderContentType marks a JSON payload: "application/json".
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

// MaxIDLength bounds a command id, in bytes.
const MaxIDLength = 256

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

// Sniff tells a payload's format: JSON when the Content-Type header says
// so or the first non-space byte is '{', msgpack otherwise.
func Sniff(contentType string, payload []byte) Format {
	if strings.HasPrefix(strings.TrimSpace(strings.ToLower(contentType)), ContentTypeJSON) {
		return JSON
	}
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return JSON
	}
	return MsgPack
}

// DecodeCommand reads a command payload of format f. JSON numbers stay
// exact (json.Number); msgpack timestamps become time.Time.
func DecodeCommand(f Format, payload []byte) (Command, error) {
	var raw struct {
		ID     any            `json:"id" msgpack:"id"`
		Fields map[string]any `json:"fields" msgpack:"fields"`
	}
	switch f {
	case JSON:
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		if err := d.Decode(&raw); err != nil {
			return Command{}, fmt.Errorf("contract: payload is not a JSON command object: %w", err)
		}
		if d.More() {
			return Command{}, errors.New("contract: payload has data after the JSON object")
		}
	default:
		if err := msgpack.Unmarshal(payload, &raw); err != nil {
			return Command{}, fmt.Errorf("contract: payload is not a msgpack command map: %w", err)
		}
	}
	id, ok := raw.ID.(string)
	switch {
	case raw.ID == nil:
		return Command{}, errors.New(`contract: command has no "id"`)
	case !ok:
		return Command{}, fmt.Errorf(`contract: command "id" is %T, want a string`, raw.ID)
	case id == "":
		return Command{}, errors.New(`contract: command "id" is empty`)
	case len(id) > MaxIDLength:
		return Command{}, fmt.Errorf(`contract: command "id" is %d bytes, longer than %d`, len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return Command{}, errors.New(`contract: command "id" is not valid UTF-8`)
	}
	if raw.Fields == nil {
		raw.Fields = map[string]any{}
	}
	return Command{ID: id, Fields: raw.Fields}, nil
}

// EncodeCommand writes c in format f.
func EncodeCommand(f Format, c Command) ([]byte, error) {
	if f == JSON {
		return json.Marshal(c)
	}
	return msgpack.Marshal(c)
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
	// At is when the result was decided, UTC.
	At time.Time `json:"at" msgpack:"at"`
}

// OK reports whether the command succeeded.
func (r Result) OK() bool { return r.Code == CodeSuccess }

// EncodeResult writes r in format f.
func EncodeResult(f Format, r Result) ([]byte, error) {
	if f == JSON {
		return json.Marshal(r)
	}
	return msgpack.Marshal(r)
}

// DecodeResult reads a result of either format.
func DecodeResult(payload []byte) (Result, error) {
	var r Result
	var err error
	if Sniff("", payload) == JSON {
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		err = d.Decode(&r)
	} else {
		err = msgpack.Unmarshal(payload, &r)
	}
	if err != nil {
		return Result{}, fmt.Errorf("contract: result payload: %w", err)
	}
	return r, nil
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
	if err := msgpack.Unmarshal(b, &o); err != nil {
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
