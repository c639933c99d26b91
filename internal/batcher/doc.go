// Package batcher turns a stream of commands for one operation into
// packets: it decides which command may join which packet and when a packet
// is ready to be sent.
//
// # Overview
//
// A Batcher holds the commands of one operation that are waiting to be
// sent. Commands join an open packet of their shape (the set of fields they
// carry: a packet is a table whose columns are those fields, and a command
// that does not mention a field must not be sent with an empty value for
// it). A packet is ready when it is full (MaxRows) or when its oldest
// command has waited MaxWait. The caller asks Next for a ready packet when
// it may make a call, reports rows that were not processed with Requeue,
// and reports each command's end with Done.
//
// It is a plain single-goroutine type: no locks, no timers, no goroutines.
// Time is passed in; UntilNext says when the next packet falls due, and the
// caller's select loop sleeps on that.
//
// # Invariants
//
//   - Order per object: of the commands that share a key, at most one is
//     unfinished (open, sent or waiting for a retry) at a time; the others
//     are held, in arrival order, until Done releases the next. So a retried
//     command never overtakes a later command for the same object, and two
//     packets in flight at once never touch the same object.
//   - A packet never holds more than MaxRows commands, and all of them have
//     the same shape.
//   - Requeued commands are sent before newer commands of their shape, and
//     Split halves before anything else.
//   - Len counts every command held (open and held back); nothing is
//     dropped. The caller bounds it by not adding more than it can hold.
//
// # Failure handling
//
// The Batcher does not know why a packet failed. The caller requeues the
// rows that must be sent again (Requeue merges them into the next packet of
// their shape; Split sends them again as two half packets, to isolate a row
// that makes the whole packet fail) and calls Done for rows that ended.
package batcher
