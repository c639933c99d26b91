// Package export turns the service's history and statistics reads (the
// reads of a period: GetHistoryOfServiceCalls and the like) into a stream
// of rows, one message per row, walking each read's history through time
// within its tiny hourly limit. It is the sibling of package feed, which
// does the same for the change-tracked reads.
//
// # Overview
//
// An export walks [since, now − settle) oldest first, in chunks no longer
// than the read may ask for (catalog.Period, or the export's Chunk), one
// call per chunk with PeriodFrom and PeriodTo written as wall clocks of
// the account's zone, to the second. It reads the answer row by row as it
// is decoded and publishes each row to CONNECT_HISTORY
// (connect.history.<Operation>) as JSON {"op","row","period","seen"},
// with Nats-Msg-Id <Operation>.<identity>: the row's id column where the
// catalogue names one (ServiceCallID…), otherwise the sha256 of its
// content (numbered from the second identical row of an answer on). Once
// every row of the chunk is stored, the marker (the chunk's end) moves,
// in key-value bucket CONNECT_EXPORTS under the export's name. While
// more than a chunk is there to read the export reads chunk after chunk
// as fast as the quota grants (the backfill); once caught up it reads the
// newest part every Interval. With NightBackfill and night hours, a
// backfill waits for the night, when the history reads have five times
// the calls.
//
// One reader per export runs across replicas: it holds a lease (a key of
// CONNECT_EXPORT_LEASES, package lease). Calls come from the shared quota
// ledger, from the exports' share of the read's limit, so that commands
// of the same read keep their calls. Rerun reads a range again on
// request. Status reports each export's marker, what is left, and when it
// will be done at the current limits.
//
// # Chunks that are too big
//
// An answer longer than MaxResponseBytes, or a call the service refuses
// (a Fault, or a result code other than OUT_OF_LIMIT and
// PARAM_NOT_EXIST: how the service refuses a period too long is not
// published, so any refusal is taken for one), has its chunk halved and
// read again, down to MinChunk; a length refused is not asked for again
// while the process runs. A chunk that cannot be read even at MinChunk
// fails: the error is logged and stored in the state (Failed), and the
// export tries again an interval later. After a read whose rows were
// small (an eighth of MaxResponseBytes) the chunk doubles again, up to
// Chunk. The decision is this package's walk.go, a pure function.
//
// # Invariants
//
//   - Nothing is missed: the marker moves only after every row of a
//     chunk is acknowledged by the stream, to that chunk's end; the next
//     chunk starts there. The horizon (now − settle) keeps the export off
//     the minutes whose history may still be written; a row that appears
//     in a period already read later than Settle is missed (Rerun reads
//     it).
//   - One message per row within the duplicate window: a chunk read
//     again (a restart mid-chunk, a halving after rows were published,
//     a rerun) republishes its rows with the same Nats-Msg-Id, and the
//     stream drops them. Beyond the window (DuplicateWindow, 24h by
//     default) a rerun publishes them again, with the same
//     Connect-Row-Id header, by which consumers de-duplicate.
//   - A row's period is the chunk it was first stored from: the rows of
//     an answer too large that came before the cap are published before
//     it proves too large, with the longer period (the halves read them
//     again, and the stream drops them).
//   - PeriodTo is taken as excluded. If the service includes it, a row at
//     the very second between two chunks is read twice and dropped the
//     second time, as above.
//   - Memory is bounded by Batch rows in hand, and for rows without an id
//     column by the hashes of one answer (at most MaxResponseBytes of
//     rows): rows are published as they are decoded.
//   - An identity is a printable string of at most 128 bytes; an id
//     column's value that is not one is replaced by the row's hash.
//
// # Failure handling
//
// A read that fails (the quota not granting, OUT_OF_LIMIT, the API or
// NATS failing) leaves the marker where it was; the chunk is read again
// (after RetryAt, or a backoff), and the stream drops what was stored of
// it. A reader killed mid-chunk is taken over from the stored marker when
// its lease ends. A row larger than a NATS message fails its chunk (the
// Object Store is not used here).
package export
