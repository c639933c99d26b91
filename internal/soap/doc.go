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
// The decoder takes the whole message in memory and walks it with its own
// streaming XML tokenizer (xmltok.go), which checks XML 1.0
// well-formedness and slices names and text out of the message rather than
// copying them: a result allocates little more than the strings it keeps.
//
// # Invariants
//
//   - Encoding never produces malformed XML: names are checked, text and
//     attributes are escaped, and characters XML cannot carry are replaced.
//   - Decoding hostile input never panics and costs at most a constant
//     factor of the input's size, which the Client caps (Limits.MaxBytes
//     caps what is read from an io.Reader): nesting depth, value count,
//     text length, attributes per element and name length are bounded by
//     Limits. A DOCTYPE is refused, so no DTD is ever read and no entity
//     is ever expanded: only XML's five predefined entities and character
//     references are decoded.
//   - The decoder accepts only well-formed XML 1.0 in UTF-8: one root
//     element, matched tags, quoted and unique attributes, XML characters
//     only.
//   - Every failure of Client.Call is one typed error, and
//     MayHaveBeenProcessed tells whether the service may have run the
//     request, which decides whether it may be sent again.
//
// # Failure handling
//
// The Client does not retry: whether a failed call may be repeated depends
// on the operation, which is the caller's knowledge. It does not log either;
// the password appears in no error.
package soap
