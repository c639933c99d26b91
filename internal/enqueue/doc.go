// Package enqueue is the logic of the enqueue command: the command-line
// producer that publishes commands to the worker over JetStream and,
// optionally, waits for their results.
//
// # Overview
//
// A [Source] yields commands, from command-line arguments ([ParseArgs]) or
// from JSON lines ([Lines], [OpenFile]). [Client.Publish] publishes them
// through the Go SDK (package connect, a connect.Loader): in input order,
// subject prefix + operation, the command id as Nats-Msg-Id, and with
// --wait the SDK client's reply subject (under the connection's inbox
// prefix) in Connect-Reply-To, whose results the SDK matches to their
// commands and hands to enqueue's output, summary and bars. What the SDK
// does (the headers, the reply subscription, reading the outcome bucket
// for duplicates and lost replies) is not done here again, so the tool
// and the library cannot drift apart. [Client.Results] reads results
// back by id: with the operation through the SDK's Lookup, without it by
// scanning the result stream.
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
//   - Commands are published in input order (the worker applies those of
//     one object in publish order), at most Config.MaxPending of them
//     unacknowledged.
//   - At most one result per id is printed: the worker is at-least-once,
//     and an id may repeat in the input.
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
//   - A publish JetStream refuses or does not acknowledge counts as failed,
//     and is not retried (a retry would land after later commands); its
//     result is not waited for. A command the SDK refuses to publish (a
//     payload too large) counts as malformed.
//   - A publish JetStream acknowledges as a duplicate (the stream already
//     had that Nats-Msg-Id within its duplicate window) never reaches the
//     worker again, so with --wait the SDK reads its result from the
//     outcome bucket, again with backoff until the outcome is final or
//     the wait times out; a reply that does not come within
//     Config.ReplyTimeout is read from there too.
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
