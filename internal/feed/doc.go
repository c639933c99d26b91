// Package feed is the other direction of the bridge: it turns the
// service's change-tracked reads (…Read with ChangedFrom) into a stream of
// change events, one per state of each object, and keeps a mirror of the
// objects in JetStream, incrementally and within the hourly quota.
//
// # Overview
//
// A feed polls one change-tracked read every Interval. Each poll asks for
// the objects changed at or after ChangedFrom = marker − Overlap (the
// marker is the moment the previous poll's call started; a feed without
// one starts from Since), written in the account's time zone, and reads
// the answer row by row as it is decoded. For each row it computes the
// object's id (the read's id columns) and a version (a hash of the row's
// data and its deleted flag), looks the object up in the mirror (key-value
// bucket CONNECT_MIRROR, key <Object>.<base64url id>), and when the
// version differs publishes an event to CONNECT_CHANGES
// (connect.change.<Object>, Nats-Msg-Id <Object>.<id>.<version>), then
// writes the new state to the mirror. Once every event of the answer is
// stored, the marker moves (key-value bucket CONNECT_FEEDS).
//
// One poller per feed runs across replicas: it holds a lease (a key of
// CONNECT_FEED_LEASES, whose age limit frees the lease of a poller that
// died) and renews it while it works. Calls come from the shared quota
// ledger, from the feeds' share of the read's limit, so that commands of
// the same read keep their calls.
//
// # Invariants
//
//   - Nothing is missed: the marker moves only after every event of an
//     answer is stored, and never past the moment the call started, by
//     the worker's clock or the service's (the earlier of the two), so a
//     change that lands while a call runs is read again by the next.
//   - One event per state: an object re-read with the same data (the
//     overlap, a restart, a second backfill) publishes nothing, also long
//     after the stream's duplicate window, because the mirror is compared
//     first; for one object, events appear in the order of its states.
//   - The mirror holds the latest known state of every object; a deleted
//     object keeps a tombstone for TombstoneTTL.
//   - Memory is bounded by the chunk of rows in hand, however large the
//     answer: rows are published as they are decoded, at most Chunk
//     unacknowledged publishes at a time.
//
// # Failure handling
//
// A poll that fails (the quota not granting, the API or NATS failing)
// leaves the marker where it was; the next poll reads the same changes
// again, and the mirror keeps it from publishing them twice. A poller
// killed mid-answer is taken over from the stored marker when its lease
// ends. An event published whose mirror write was lost (a crash between
// the two) is published again with the same Nats-Msg-Id: the stream drops
// it within its duplicate window; after that window the event appears
// twice, with the same version. A difference between the worker's clock
// and the service's (the answers' Date header) larger than the overlap is
// logged and counted: changes could otherwise be missed.
package feed
