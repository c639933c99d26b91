// Package quota keeps the ledger of the API's hourly quota: how many calls
// each operation may make in the current window, and how many it has made.
// It answers "granted" or "not before T"; it never sleeps.
//
// # Overview
//
// 1C-Connect counts calls per operation per hour for the whole account,
// and answers OUT_OF_LIMIT once an operation's limit is spent. Windows
// here are clock-aligned spans (an hour by default; seconds in tests),
// aligned to multiples of their length on the account's wall clock (its
// time zone, Europe/Moscow by default). An operation's limit in a window is
// its catalogue limit (day or night, by the hour the window starts),
// scaled to the window's length, or an override, less a reserve left for
// the account's other clients. Calls are never made in a guard interval at
// either edge of a window.
//
// Local keeps the ledger in memory, for one process. Shared keeps it in a
// JetStream key-value bucket that every replica uses: one key per
// operation and window ("op.<Op>.<window start, unix seconds>"), holding
// the calls granted and whether the API answered OUT_OF_LIMIT. Reader
// reads that ledger for tools that only look (enqueue's estimate): it
// never creates the bucket nor writes a key.
//
// Night hours and per-operation overrides are read by package tariff,
// the one parser the sandbox service uses too; an override for an
// operation the catalogue does not know is refused at start.
//
// # The grant rule
//
// Local and Shared grant by one rule (rule.go), in this order:
//
//  1. No call in a guard interval: ask again when it ends.
//  2. The operation's window first: it must not be exhausted (OUT_OF_LIMIT
//     recorded) and must have granted fewer calls than its limit; else
//     not before the next window.
//  3. Then the account's window, when there is an account cap: fewer
//     calls of all operations together than the cap; else not before the
//     next window.
//  4. A grant counts one call on both, or on neither.
//
// The operation goes first because it is the narrower limit and its
// state is often known without asking the ledger (a window spent stays
// spent): a spent operation is refused without touching the account's
// count, so it never uses up the account's calls, and Shared never writes
// to the one key every replica and operation contends for just to refuse.
// Local checks both under one lock and increments both at once. Shared
// cannot change two keys together, so it reads the operation's key,
// takes the account's call, then the operation's (each a compare-and-set),
// and gives the account's call back when the operation's fails. Of the
// two writes the account's goes first: a crash between them loses that
// one, a call of the wide account cap, not one of an operation's narrow
// limit (ServiceRequestAdd has 50 an hour).
//
// # Invariants
//
//   - Never more grants than the limit in one window, whatever the number
//     of replicas: a grant is an increment of the key, made with a
//     compare-and-set on the key's revision, and only while the count is
//     below the limit. A replica that dies after a grant leaves the grant
//     counted (the call may have been made), so a later replica can never
//     reuse it; the cost is at most one unused call per dead replica
//     (and, with an account cap, one of the account's calls per dead
//     replica or failed give-back).
//   - A window that is spent (limit reached, or OUT_OF_LIMIT recorded)
//     stays spent until it ends, for every replica.
//   - The guard interval keeps clock skew between replicas and the API
//     (up to the guard) from moving a call into the neighbouring window.
//   - Take and Exhausted never sleep; the caller waits until RetryAt.
//
// # Failure handling
//
// When the bucket cannot be read or written, Take returns the error and
// grants nothing: the worker makes no call (fail closed), reports it on
// /readyz and in its log, and asks again shortly; work resumes by itself
// when the bucket answers. Contention on a key is retried at once a
// bounded number of times, then answered with a RetryAt a few milliseconds
// away, which is not an error.
package quota
