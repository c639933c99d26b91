// Package worker is the bridge itself: it takes commands from JetStream,
// packs them per operation, calls the 1C-Connect API within its quota, and
// publishes each command's own result.
//
// # Overview
//
// Every operation has a lane: a durable pull consumer of
// connect.cmd.<Op>, shared by all replicas and pinned to one of them at a
// time (a priority group with the pinned policy), a batcher, and a
// finisher. The lane fetches commands while it has room, checks each
// against the catalogue and the outcome bucket, packs the valid ones, asks
// the limiter for a call when a packet is ready, calls the API, and maps
// each row of the answer to a final result or a retry. The finisher records
// the outcome in the key-value bucket, publishes the result to the result
// stream and the command's reply subject, and only then acknowledges the
// command. A sweeper answers commands on subjects of no known operation.
//
// # Invariants
//
//   - Nothing is lost: a command is acknowledged only after its final
//     result is stored in the outcome bucket and the result stream. Until
//     then it is held (kept alive with progress acknowledgements) or, if the
//     worker dies, redelivered.
//   - One final result per command: a redelivered or re-published command
//     whose outcome is recorded is answered from the record, never sent to
//     the API again; results carry a Nats-Msg-Id, so the result stream
//     stores one per command.
//   - Order per object: commands with the same key (the catalogue's key
//     fields) of one operation are applied in stream order, one at a time
//     (see package batcher); pinning keeps each operation on one replica,
//     and the pin outlives the ack wait, so a new owner sees a dead owner's
//     commands before newer ones.
//   - Bounded memory: a lane holds at most MaxPending commands; the
//     consumer's MaxAckPending is the same number.
//   - A bad command never blocks good ones: invalid commands are answered
//     at once and never enter a packet; a row the API rejects ends alone; a
//     packet that fails with a SOAP fault is halved until the row that
//     breaks it is alone.
//
// # Failure handling
//
// Calls the API did not process (OUT_OF_LIMIT, rows missing from a short
// result table, refused credentials) are retried without counting as a
// failed attempt. A call that failed before it was sent, or of an operation
// safe to repeat, is retried with exponential backoff and jitter until
// MaxAttempts, then ends with TRANSPORT_ERROR. A call that creates objects
// and may have been processed (cut after sending) ends with UNKNOWN_OUTCOME
// unless RetryUnknownOutcome is set; the worker records such calls in the
// outcome bucket before sending them, so this holds across crashes too.
// HTTP 401/403 stops all calls (readiness turns false) and probes again
// every AuthRetry. When the limiter cannot answer, no call is made.
package worker
