// Package soap speaks PartnerWebAPI2, the SOAP "server API" of 1C-Connect:
// 1C's XDTO values (scalars, Structure, ValueTable), request and response
// envelopes in SOAP 1.1 and 1.2, an HTTP client, and typed errors.
//
// # Overview
//
// A Request carries an operation's input as Params — a Structure for one
// object or a ValueTable for a packet of objects — or, for the eight file
// and message operations, as plain child elements. The encoder writes the
// form of the API's own example: a SOAP envelope with m: for the service
// namespace and d4p1: for 1C's core namespace, tab-indented, table cells
// typed by their column. The decoder reads what the service writes: a return
// Structure of ResultCode and ResultData, where ResultData is nil, a scalar,
// a Structure, or a ValueTable (columns first, then rows by position). A
// packet's answer is a ValueTable with one ResultCode/ResultData row per
// input row, in input order; see Response.Rows.
//
// The decoder reads a message as it arrives with encoding/xml's Decoder
// (xmlread.go), under Limits and the document rules the Decoder leaves to
// its caller. A read's answer may also be streamed (Client.CallRows,
// DecodeResponseRows): each row of its table goes to the caller's
// function as soon as it is decoded and is not kept, so an answer of any
// size costs one row's memory. Response.ServerTime is the answer's HTTP
// Date header: the service's clock, for detecting skew.
//
// # Invariants
//
//   - Encoding never produces malformed XML: names are checked by
//     ValidName, the one rule of names (the catalogue uses it too), text
//     and attributes are escaped, and characters XML cannot carry are
//     replaced.
//   - Decoding hostile input never panics and costs at most a constant
//     factor of the input's size, which Limits.MaxBytes caps (the Client
//     sets it to Config.MaxResponseBytes): nesting depth, value count,
//     text length, attributes per element, attribute length and name
//     length are bounded by Limits. Any DOCTYPE or other declaration is
//     refused, so no DTD is ever read and no entity is ever declared or
//     expanded: only XML's five predefined entities and character
//     references are decoded.
//   - The decoder accepts only XML 1.0 in UTF-8 that encoding/xml's Strict
//     Decoder reads, with one root element and no other encoding
//     (CharsetReader is nil), and no attribute given twice.
//   - Streaming holds at most Limits.MaxRowBytes of the message at once
//     (one row, or what lies outside the rows), besides the read buffer:
//     the per-call MaxResponseBytes of a big read (RowsOptions) bounds
//     the body, never the memory. Every streamed row has one cell per
//     column, and the answer is checked to be the requested operation's
//     before any row is handed over.
//   - A packet's per-row results (Response.Rows) have one cell per column
//     and a string ResultCode in every row, or are a *DecodeError.
//   - Every failure of Client.Call is one typed error, and
//     MayHaveBeenProcessed tells whether the service may have run the
//     request, which decides whether it may be sent again.
//   - The Client never follows a redirect, which would carry its
//     credentials to another host: a 3xx answer is an *HTTPError.
//
// # Failure handling
//
// The Client does not retry: whether a failed call may be repeated depends
// on the operation, which is the caller's knowledge. It does not log either;
// the password appears in no error.
package soap
