package connect

import (
	"errors"
	"fmt"
	"strings"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Sentinels a *ResultError matches with errors.Is: one per code the
// worker gives itself, and ErrService for the codes of the service.
var (
	// ErrInvalidCommand: the payload could not be read or had no valid
	// id (INVALID_COMMAND).
	ErrInvalidCommand = errors.New("connect: invalid command")
	// ErrUnknownOperation: no operation of the API has the name
	// (UNKNOWN_OPERATION).
	ErrUnknownOperation = errors.New("connect: unknown operation")
	// ErrInvalidFields: the fields fail the catalogue's checks
	// (INVALID_FIELDS); ResultError.Fields says which and why.
	ErrInvalidFields = errors.New("connect: invalid fields")
	// ErrTransportError: the call kept failing and retries ran out
	// (TRANSPORT_ERROR).
	ErrTransportError = errors.New("connect: transport error")
	// ErrUnknownOutcome: a call that creates objects was cut after it was
	// sent, so whether the service ran it is unknown (UNKNOWN_OUTCOME).
	ErrUnknownOutcome = errors.New("connect: unknown outcome")
	// ErrSOAPFault: the service raised an exception on this command, on
	// every attempt (SOAP_FAULT).
	ErrSOAPFault = errors.New("connect: SOAP fault")
	// ErrReplyRefused: the worker may not publish to the reply subject,
	// and did not run the command (REPLY_REFUSED): the client's reply
	// prefix is not in the worker's --reply-allow.
	ErrReplyRefused = errors.New("connect: reply subject refused")
	// ErrPoison: the command was delivered too often without a result and
	// is not tried again (POISON).
	ErrPoison = errors.New("connect: poison command")
	// ErrResultTooLarge: the service answered, but the data is larger
	// than a NATS message may carry (RESULT_TOO_LARGE).
	ErrResultTooLarge = errors.New("connect: result too large")
	// ErrService: the service itself refused the command with a code of
	// its own (OBJECT_NOT_FOUND, OUT_OF_LIMIT…), in ResultError.Code.
	ErrService = errors.New("connect: refused by the service")
	// ErrNotFound: the mirror has no record of the object, or the files
	// bucket no object of the reference's name.
	ErrNotFound = errors.New("connect: not found")
	// ErrFileRefused: a file reference was refused: it names another
	// bucket than the files bucket, its object is larger than the files
	// bucket takes, or no longer has the reference's digest.
	ErrFileRefused = errors.New("connect: file reference refused")
	// ErrNoResult: Lookup found no final result of the command (yet).
	ErrNoResult = errors.New("connect: no final result")
	// ErrNotFinal: Lookup found the command recorded as sent to the API,
	// without its final result yet. It is also an ErrNoResult.
	ErrNotFinal = fmt.Errorf("%w: sent to the API, not decided yet", ErrNoResult)
	// ErrClosed: the client was closed before the result came.
	ErrClosed = errors.New("connect: client closed")
)

// codeErrors maps the worker's codes to their sentinels.
var codeErrors = map[string]error{
	contract.CodeInvalidCommand:   ErrInvalidCommand,
	contract.CodeUnknownOperation: ErrUnknownOperation,
	contract.CodeInvalidFields:    ErrInvalidFields,
	contract.CodeTransportError:   ErrTransportError,
	contract.CodeUnknownOutcome:   ErrUnknownOutcome,
	contract.CodeSOAPFault:        ErrSOAPFault,
	contract.CodeReplyRefused:     ErrReplyRefused,
	contract.CodePoison:           ErrPoison,
	contract.CodeResultTooLarge:   ErrResultTooLarge,
}

// FieldProblem is what is wrong with one field of a command.
type FieldProblem struct {
	// Field is the field's name as sent.
	Field string
	// Problem says what is wrong, as the catalogue words it: "required",
	// "unknown field", "not a UUID", "longer than 20 characters (got
	// 23)"… It never quotes the field's value.
	Problem string
}

// ResultError is a result whose code is not SUCCESS, as an error.
type ResultError struct {
	// ID and Op name the command.
	ID, Op string
	// Code is the result's code: one of the worker's (INVALID_FIELDS…)
	// or the service's own.
	Code string
	// Message is the result's error text.
	Message string
	// Fields lists each bad field, sorted by name, for INVALID_FIELDS.
	Fields []FieldProblem
	// Local is set when the client refused the command itself, before
	// publishing it: nothing was sent.
	Local bool
}

// Error returns "connect: <Op> <ID>: <Code>: <Message>".
func (e *ResultError) Error() string {
	var b strings.Builder
	b.WriteString("connect: ")
	b.WriteString(e.Op)
	if e.ID != "" {
		b.WriteString(" " + e.ID)
	}
	b.WriteString(": " + e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Local {
		b.WriteString(" (refused by the client, not sent)")
	}
	return b.String()
}

// Is matches the sentinel of the error's code: ErrInvalidFields for
// INVALID_FIELDS…, ErrService for a code of the service.
func (e *ResultError) Is(target error) bool {
	if s, ok := codeErrors[e.Code]; ok {
		return target == s
	}
	return target == ErrService
}

// resultError makes the error of a result that is not SUCCESS, nil for
// one that is.
func resultError(r Result) error {
	if r.Code == contract.CodeSuccess {
		return nil
	}
	e := &ResultError{ID: r.ID, Op: r.Op, Code: r.Code, Message: r.Message}
	if r.Code == contract.CodeInvalidFields {
		// The worker's structured list when the result has one; the
		// text, parsed, from a worker that wrote none.
		for _, f := range r.fields {
			e.Fields = append(e.Fields, FieldProblem{Field: f.Field, Problem: f.Problem})
		}
		if len(e.Fields) == 0 {
			e.Fields = parseFieldProblems(r.Op, r.Message)
		}
	}
	return e
}

// parseFieldProblems reads the problems of an INVALID_FIELDS result's
// text: the catalogue's list (catalog.ParseFieldErrors), or the single
// "<Field>: <problem>" of a field whose stored object failed its check.
// Nil when the text is of neither form.
func parseFieldProblems(op, text string) []FieldProblem {
	if es, ok := catalog.ParseFieldErrors(op, text); ok {
		return fieldProblems(es)
	}
	field, problem, ok := strings.Cut(text, ": ")
	if !ok || field == "" || strings.Contains(field, " ") {
		return nil
	}
	return []FieldProblem{{Field: field, Problem: problem}}
}

// fieldProblems converts the catalogue's errors.
func fieldProblems(es catalog.FieldErrors) []FieldProblem {
	out := make([]FieldProblem, len(es))
	for i, e := range es {
		out[i] = FieldProblem{Field: e.Field, Problem: e.Problem}
	}
	return out
}
