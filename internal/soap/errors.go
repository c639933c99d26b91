package soap

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinels that callers branch on with errors.Is.
var (
	// ErrOutOfLimit matches a *ResultError whose code is OUT_OF_LIMIT: the
	// operation's hourly limit is spent; nothing was processed.
	ErrOutOfLimit = errors.New("soap: hourly call limit reached (OUT_OF_LIMIT)")
	// ErrUnauthorized matches an *AuthError: the service refused the
	// credentials (HTTP 401) or the user's rights (HTTP 403).
	ErrUnauthorized = errors.New("soap: not authorized")
	// ErrResponseTooLarge is wrapped by a *DecodeError when a response is
	// longer than the client's cap.
	ErrResponseTooLarge = errors.New("soap: response larger than the configured cap")
	// ErrRowTooLarge is wrapped by a *DecodeError when, in an answer
	// whose rows are streamed (CallRows, DecodeResponseRows), a row, or
	// what the answer holds outside its rows, is longer than
	// Limits.MaxRowBytes.
	ErrRowTooLarge = errors.New("soap: row larger than the configured cap (MaxRowBytes)")
)

// TransportError is a failure to exchange the HTTP request and response.
// Sent tells whether the whole request had been written when it failed: if
// not, the service cannot have processed it and sending it again is safe; if
// so, the outcome is unknown.
type TransportError struct {
	Op   string
	Sent bool
	Err  error
}

func (e *TransportError) Error() string {
	when := "before the request was sent"
	if e.Sent {
		when = "after the request was sent (outcome unknown)"
	}
	return fmt.Sprintf("soap: call %s: transport failed %s: %v", e.Op, when, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// HTTPError is an HTTP status other than 200 that carries no SOAP Fault,
// typically from a proxy or load balancer in front of the service, or a
// redirect, which the Client never follows.
type HTTPError struct {
	Op         string
	StatusCode int
	// Body is the start of the response body, for the log.
	Body string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("soap: call %s: HTTP %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
}

// AuthError is HTTP 401 or 403: wrong credentials, or a user without API
// rights. Retrying with the same credentials cannot help.
type AuthError struct {
	Op         string
	StatusCode int
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("soap: call %s: HTTP %d %s: check the user, the password and that API access is on", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes errors.Is(err, ErrUnauthorized) true.
func (e *AuthError) Is(target error) bool { return target == ErrUnauthorized }

// FaultError is a SOAP Fault: the service raised an exception running the
// request (unknown operation, malformed message, or an unhandled error).
type FaultError struct {
	Op         string
	StatusCode int
	Code       string
	Reason     string
	Detail     string
}

func (e *FaultError) Error() string {
	s := fmt.Sprintf("soap: call %s: fault %s: %s", e.Op, e.Code, e.Reason)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// DecodeError is a response that is not a well-formed PartnerWebAPI2
// message. The request reached the service, so its outcome is unknown.
type DecodeError struct {
	Op     string
	Offset int64 // byte offset in the message where reading stopped
	Err    error
}

func (e *DecodeError) Error() string {
	op := e.Op
	if op == "" {
		op = "message"
	}
	return fmt.Sprintf("soap: decode %s at byte %d: %v", op, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ResultError is an answer whose ResultCode is not SUCCESS. Reason is the
// service's explanation (ResultData).
type ResultError struct {
	Op     string
	Code   string
	Reason string
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("soap: call %s: %s: %s", e.Op, e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrOutOfLimit) true for OUT_OF_LIMIT.
func (e *ResultError) Is(target error) bool {
	return target == ErrOutOfLimit && e.Code == CodeOutOfLimit
}

// MayHaveBeenProcessed reports whether the service may have run the request
// that failed with err. It is what decides whether a request that creates
// objects may be sent again.
//
// True, the outcome is unknown: a transport failure after the request was
// sent; an unreadable or unexpected answer (*DecodeError); HTTP 500
// without a SOAP Fault (the service, or something in front of it, failed
// at a moment nobody can tell, possibly after running the request), 502
// and 504 (the service behind the gateway may have run it).
//
// False, the service certainly did not run it or answered with a
// definite result: not sent; refused credentials; a redirect (never
// followed); HTTP 429 and 503 (refused before running anything) and any
// other status; a SOAP Fault (the service's own exception: it did not
// complete the call); a ResultCode, OUT_OF_LIMIT included.
func MayHaveBeenProcessed(err error) bool {
	var te *TransportError
	var he *HTTPError
	var de *DecodeError
	switch {
	case errors.As(err, &te):
		return te.Sent
	case errors.As(err, &he):
		switch he.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
		return false
	case errors.As(err, &de):
		return true
	}
	return false
}
