// Package connect is the Go client of connect-bridge: it sends commands to
// the bridge's worker over NATS JetStream and gives back each command's
// own result, typed.
//
// # Overview
//
// A [Client] wraps a *nats.Conn the caller owns. [Client.Do] publishes
// one command and waits for its result; [Client.Submit] publishes and
// returns a [Pending] to wait on later; [Client.Bulk] loads many
// commands with a bounded number of publishes in flight and hands each
// result to a callback as it comes. Commands are [Operation] values: the
// generated types of package ops (one per operation of the API, its
// parameters as typed fields) or [Raw] (an operation name and a map).
//
// A result is a [Result]: the code, the data ([Result.Decode] into a
// struct or map) and the packet it travelled in. A code other than
// SUCCESS is also an error, a *[ResultError] that errors.Is matches to
// one sentinel per code of the worker ([ErrInvalidFields]…) or to
// [ErrService] for the service's own codes; for INVALID_FIELDS it lists
// each field and what is wrong with it.
//
// # Invariants
//
//   - A command's id is chosen once (or given with [WithID]) and kept
//     across every retry of its publish, as its Nats-Msg-Id: a publish
//     retried after a cut connection is stored once by the stream, and a
//     command published again later is answered from its recorded
//     outcome, never run twice.
//   - The reply subject is subscribed before the first publish (once, in
//     [New]), and checked against the worker's reply allow-list
//     ([WithReplyAllow]), so that the worker never refuses to answer.
//   - A result is never lost to the caller: when the reply does not come
//     within the reply timeout ([WithReplyTimeout]), or the connection was
//     re-established meanwhile (a reply may have been published while it
//     was down), the result is read from the worker's outcome bucket,
//     and again with backoff until it is final.
//   - Before anything is published, the command is checked with the
//     worker's own rules: its payload decoded as the worker decodes it,
//     its fields through the operation catalogue. A command the worker
//     would refuse is refused locally ([ResultError.Local]) and never
//     sent.
//   - Every reply is hostile: it is decoded with the contract's bounds
//     and must name its command's id and operation, or it is dropped.
//   - The client starts one goroutine (the reply timeouts and
//     reconnections), which [Client.Close] stops.
//
// # Failure handling
//
// Publishes are retried with backoff while the error is transient (a
// timeout, no responders, a full stream) until the context ends; a
// command too large, or a closed connection, fails at once. Do and Wait
// return the context's error when it ends before the result: the command
// may still run, and its result can be read later with the same id.
package connect
