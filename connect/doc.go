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
// # Consumers, the mirror and files
//
// [Client.ConsumeChanges] and [Client.ConsumeHistory] hand what the
// bridge produces (the change feed's events, the exports' history rows)
// to a handler, on a durable pull consumer of the stream: a message is
// acknowledged once its handler returns nil (the server confirms the
// acknowledgement), delivered again after a backoff when it returns an
// error, and terminated when its payload cannot be decoded or names
// another object than its subject. At most [WithMaxInFlight] handlers
// run at once, which is also the consumer's MaxAckPending. Each delivery
// carries the traceparent of the span that published it
// ([WithHandlerContext] continues the trace). [Client.Mirror] reads the
// mirror the feeds keep: Get, List, Watch. [Client.PutFile] and
// [Client.OpenFile] move files through the Object Store bucket; a
// [FileRef] is a field value of a command ([AttachFile] for the typed
// operations), and [AsFileRef] recognizes one in a result's data.
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
//     reconnections), which [Client.Close] stops. A consumer's
//     goroutines (its fetch loop and one per message handled) end before
//     it returns; it returns when its context ends.
//   - What the bridge produced is hostile too: events, rows and mirror
//     records are decoded with the bounds of results (depth, lengths,
//     UTF-8), a mirror key must be <Object>.<base64url id>, and a file
//     reference is opened only in the files bucket, within its size
//     limit, with the digest it gives.
//
// # Failure handling
//
// Publishes are retried with backoff while the error is transient (a
// timeout, no responders, a full stream) until the context ends; a
// command too large, or a closed connection, fails at once. Do and Wait
// return the context's error when it ends before the result: the command
// may still run, and its result can be read later with the same id.
package connect
