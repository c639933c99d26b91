// Package batcher turns a stream of commands for one operation into
// packets: it decides which command may join which packet, which commands
// one row may stand for, and when a packet is ready to be sent.
//
// # Overview
//
// A Batcher holds the commands of one operation that are waiting to be
// sent. Each command becomes a row of an open packet of its shape (the set
// of fields it carries: a packet is a table whose columns are those
// fields, and a command that does not mention a field must not be sent
// with an empty value for it). A packet is ready when it is full (MaxRows
// rows) or when its oldest row has waited MaxWait. The caller asks Next
// for a ready packet when it may make a call, gives back rows that were
// not processed with Requeue, and reports each command's end with Done.
//
// Commands for one object (the same key) go one row at a time: while a
// row of the key is unfinished, later commands are held. With
// Config.Collapse (the Edit family), consecutive commands of one key and
// one shape are one row instead: the row sends the last one's value and
// carries the earlier ones in Item.Collapsed, and each of them gets the
// row's result. Sending the last of commands that set the same fields
// leaves the object as sending each in turn would, whatever the service
// does with the fields they do not carry. So a hot object costs one row
// per run of one shape, not one call per command: 2,000 edits of one shape
// on 20 objects are one packet of 20 rows.
//
// Demand tells a caller that rations calls what the commands held need:
// a lower bound on the calls, the rows, and the rows that could go in a
// packet now (those held behind an object's unfinished row cannot).
//
// It is a plain single-goroutine type: no locks, no timers, no goroutines.
// Time is passed in; UntilNext says when the next packet falls due, and the
// caller's select loop sleeps on that. One walk over the open packets
// (walk) makes every choice: Next, Ready, UntilNext and Flush.
//
// # Invariants
//
//   - Order per object: of the commands that share a key, at most one row
//     is unfinished (open, sent or waiting for a retry) at a time; later
//     ones are held, in arrival order, until Done has been called for
//     every command of that row. So a retried row never overtakes a later
//     command for the same object, and two packets in flight at once never
//     touch the same object.
//   - A row is commands that are consecutive among their key's commands
//     and all of one shape; its Value is the last of them. Commands
//     collapse only with Config.Collapse and a non-empty key, at every
//     point it is safe (a new command joins the open row of its key and
//     shape, or the last row held behind the key's unfinished row), and
//     never across a command of another shape, never into a row that was
//     handed out (sent, requeued, split or returned), and never again once
//     taken apart by Expand. Without Collapse every row is one command,
//     and the batcher behaves as it did before collapse existed.
//   - A packet never holds more than MaxRows rows, and all of them have
//     the same shape. A row is due from its first command's arrival.
//   - Requeued and expanded rows are sent before newer rows of their
//     shape, and packets of Split and Return before anything else.
//   - Every command is in exactly one place: a row of an open packet
//     (itself or collapsed into it), a row held behind its key, a packet
//     of Split or Return, or handed out. Len counts every command held,
//     collapsed ones too; Rows counts the rows they make; nothing is
//     dropped. The caller bounds Len by not adding more than it can hold;
//     everything the batcher keeps grows with Len, not with what producers
//     send.
//
// # Failure handling
//
// The Batcher does not know why a packet failed. The caller requeues the
// rows that must be sent again (Requeue merges them, unchanged, into the
// next packet of their shape; Split sends them again as two half packets,
// to isolate a row that makes the whole packet fail) and calls Done for
// each command that ended. When a collapsed row fails as a row (the
// service refused it, or a packet of it alone fails), the caller gives it
// to Expand: its commands are sent again one at a time, in arrival order,
// each then its key's unfinished row in turn, so that each gets its own
// verdict; commands that arrived meanwhile wait behind them.
package batcher
