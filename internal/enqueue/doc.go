// Package enqueue is the logic of the enqueue command: the command-line
// producer that publishes commands to the worker over JetStream and,
// optionally, waits for their results.
//
// # Overview
//
// A [Source] yields commands, from command-line arguments ([ParseArgs]) or
// from JSON lines ([Lines], [OpenFile]). [Client.Publish] publishes them
// asynchronously to the command stream (subject prefix + operation), one
// message per command with the header Nats-Msg-Id set to the command id,
// and with --wait collects one result per id on a private reply inbox
// named in the Connect-Reply-To header. [Client.Results] reads results
// back by id, from the outcome bucket or by scanning the result stream.
// The connection settings come from package natsconn, shared with the
// worker.
//
// While a run goes, on a terminal, bars show the commands published and
// (with --wait) the results, each with its rate, and an [Estimate] of
// when the last result comes. The estimate is made from the quota, not
// from the recent rate (results come in bursts of a packet, then not for
// the rest of the window): the calls the commands still need at the
// operations' packet sizes, the calls left in the current window as the
// workers' shared ledger counts them (read with quota.Reader), then
// whole windows of each operation's limit, with the guard interval at
// each edge; operations spend their own quotas in parallel, so the
// slowest decides. The decision is the pure function forecast
// (estimate.go); the estimator (estimator.go) keeps, across reads of the
// ledger, the calls the run was granted and those answered, so that
// calls in flight are not counted twice.
//
// # Invariants
//
//   - Every published command has a unique, non-empty id: a command
//     without one gets enq-<unix nanos>-<counter>, and the generated id is
//     reported on the diagnostics writer.
//   - The reply inbox is subscribed, and the subscription flushed to the
//     server, before the first command is published, so no result can be
//     missed.
//   - At most one result per id is printed: the worker is at-least-once,
//     and a duplicate publish may be answered both by the reply inbox and
//     by the outcome bucket.
//   - At most Config.MaxPending publishes are in flight, unacknowledged.
//   - Secrets (password, token, URL user info) never appear in errors or
//     output.
//   - The quota ledger is only read, never created nor written: looking
//     cannot change what the workers may spend.
//   - Nothing is drawn on a writer that is not a terminal, and the
//     summary lines are the same with bars or without.
//
// # Failure handling
//
//   - A malformed command line is reported with its line number and
//     counted; the run goes on with the next line.
//   - A publish JetStream refuses or does not acknowledge counts as failed;
//     its result is not waited for.
//   - A publish JetStream acknowledges as a duplicate (the stream already
//     had that Nats-Msg-Id within its duplicate window) never reaches the
//     worker again, so with --wait its result is read from the outcome
//     bucket, watching the key until the outcome is final or the wait
//     times out.
//   - When the ledger cannot be read (no bucket: workers with
//     --local-quota; a NATS user not allowed to read it), the estimate
//     says so once on the diagnostics writer and in its text, and takes
//     the current window as unused. A read waits at most a second (a
//     refused request is never answered), and a ledger that failed is
//     not read again for 30 s, so that neither publishing nor the bars
//     wait on it.
//   - The run's error wraps [ErrIncomplete] when any command was malformed,
//     failed to publish, or (with --wait) ended with a code other than
//     SUCCESS or had no result before the timeout.
package enqueue
