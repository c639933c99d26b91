// Package emulator is a sandbox PartnerWebAPI2: an in-memory stand-in for
// the 1C-Connect server API that speaks its SOAP dialect, enforces its
// hourly limits and can fail the way a network and a remote service fail.
// Tests run it in-process (httptest.NewServer(srv) or srv.ServeHTTP); the
// connect-emulator binary serves it for `make run` and demos. The worker
// talks to it over HTTP only, as it would to the real service.
//
// # Overview
//
// A Server is an http.Handler. POST Path is the SOAP endpoint (SOAP 1.1
// and 1.2, HTTP Basic auth); GET Path?wsdl serves the catalogue's WSDL;
// GET /stats serves Stats as JSON; GET /healthz answers ok. A call goes:
// credentials (401 with WWW-Authenticate) → body (capped) → injected HTTP
// 500 (Config.FailRate) → decoding and dispatch on the body's element
// (SOAP Fault with HTTP 500 for malformed XML, a wrong namespace or an
// unknown operation) → the operation's limit for the current window
// (OUT_OF_LIMIT) → processing → latency → the answer, or a cut connection
// (Config.DropRate).
//
// # Invariants (what is faithful to the real service)
//
//   - The answer is a SOAP 1.2 envelope with Content-Type
//     application/soap+xml;charset=utf-8, even to a SOAP 1.1 request
//     (Config.AnswerVersion can answer in the request's version instead).
//   - Every answer is a return Structure of ResultCode and ResultData,
//     written by soap.EncodeResponse. A packet (Params as a ValueTable) is
//     processed row by row in input order, going on after a failed row;
//     the answer is SUCCESS with a table of one ResultCode/ResultData row
//     per input row (columns xs:string and untyped, as in the API's
//     example; a successful edit or delete row answers true). A Structure
//     is one object: the top-level code and data are its result (nil for
//     a successful edit or delete, a Structure of the key for an Add).
//   - The limit is counted per operation before anything else, at the
//     configured calls per window (default: the catalogue's day or night
//     limit); a call over it is answered OUT_OF_LIMIT, "limit reached",
//     with HTTP 200, and nothing is processed. Faults of malformed
//     requests, refused credentials and injected failures are not
//     counted (a period refused as too long is: the service ran the call).
//   - A packet longer than the operation accepts is refused as a whole
//     (PACKET_TOO_LARGE, nothing processed) after it was counted.
//   - Writes stamp the object's change time (account time zone, to the
//     second); a change-tracked read (catalog.ChangeTracked) with
//     ChangedFrom returns the objects changed at or after it, to the
//     second, deleted ones with Deleted=true, its other filters (ClientID)
//     applied; without it, all of them. ChangedFrom is a wall clock in the
//     account's zone (Config.Location, --tz); one that carries an offset
//     names that instant. Every row carries the catalogue's IDColumns.
//     Reads answer with the recorded column names, order and types where
//     they are known, and list their columns even with no rows.
//   - A read of stored objects sees one moment of the store: its records
//     are copied under the lock (a record's fields map is replaced on
//     change, never changed in place, so the copy shares it), and the
//     answer is written from the copy after the lock is released, a row at
//     a time (soap.EncodeResponseRows): 100,000 client users cost about
//     11 MB, not the 47 MB answer and its table.
//   - The sandbox's clock is Config.Now shifted by Config.ClockOffset, for
//     everything: change stamps, limit windows, ChangedFrom, and the HTTP
//     Date header of every answer, which it sets itself (net/http would
//     write the real clock's).
//   - The churn (Run, with Config.Churn changes a minute) creates, edits
//     and deletes objects of the change-tracked kinds as people in the
//     web cabinet would, under the same lock as the calls, stamping each
//     change, and hands each to Config.OnChurn when set, with the moment
//     it was made; it draws from its own random source seeded by
//     Config.Seed. Run is the only goroutine of the package, and it ends with its
//     context.
//   - Fields are validated by the catalogue (catalog.Operation.Fields):
//     required fields, types, lengths, UUID form, unknown fields.
//   - A call is applied atomically: calls run one at a time under the
//     Server's lock, so concurrent packets never interleave rows.
//   - An injected HTTP 500 happens before processing: nothing was
//     applied. A dropped connection happens after processing: everything
//     was applied and counted, but the client gets no answer.
//
// # Simplifications
//
//   - Result codes other than SUCCESS and OUT_OF_LIMIT are the emulator's
//     own (INVALID_PARAMETER, OBJECT_NOT_FOUND, OBJECT_DELETED,
//     OBJECT_EXISTS, PACKET_TOO_LARGE): the service's list is not
//     published. Reasons are English and name the field.
//   - References between objects are not checked (an edit may name a
//     department that does not exist), except the service request of a
//     message or file operation and the client of ClientDepartmentDelete.
//   - A nil value in a packet's cell or a Structure means "not given":
//     Edit leaves that field as it was.
//   - Reads of objects whose fields are not published list a guessed set
//     of columns, then any other stored field, untyped. The recorded
//     UserServiceLineRead lists no Deleted column; the wiki says every
//     change-tracked read answers Deleted=true, so the sandbox's follows
//     the recorded five with one.
//   - The churn's changes are its own plausible ones (names, posts,
//     phones, line connections' expiry); references it makes point at live
//     objects. It does not go through the API: it is never counted against
//     a limit, and Applied, Edits and Writes do not see it (Stats.Churn
//     counts it).
//   - The history and statistics reads of a period (catalog.PeriodReads)
//     answer a generated, deterministic history (Config.SeedHistory days
//     of it, drawn again from the seed for every read, never stored): the
//     events that started in [PeriodFrom, PeriodTo) (wall clocks in the
//     account's zone; an offset names that instant; both required) and
//     are over by the sandbox's clock (an event lasts at most
//     MaxEventLength), in order of start, filtered by every other
//     parameter that names a column. The columns are the emulator's
//     guess. A period longer than the read's bound (the catalogue's, by
//     day or at night, or Config.PeriodBounds') is counted, then refused
//     with a SOAP Fault: the service's form of that refusal is not
//     published and the Fault is assumed. Server.History gives tests the
//     rows. GetHistoryOfColleaguesChat answers a base64 ZIP of HTML
//     files, one per pair of specialists per day, named as third-party
//     clients read them (ChatHistory/ChatHistory_Collegue_<id1>_<id2>_
//     <date>.html), drawn from the seed and the date like the other
//     histories (Server.ColleaguesChat gives tests the files); other
//     statistics and storefront reads an empty table of plausible
//     columns; writes without an object model (welcome e-mails,
//     storefront answers) answer SUCCESS once their fields validate.
//   - Region, request channel and status lists hold a few rows of the
//     emulator's own, not the service's data.
//   - The limit counts calls per account only; there is one account.
//
// # Failure handling
//
// Injected failures and latency draw from one random source seeded by
// Config.Seed, so a test with a fixed seed and a fixed order of calls sees
// the same failures every run (the churn draws from another, so that it
// does not move them). Latency waits on a timer and gives up when
// the request's context ends, so it never holds up a shutdown.
package emulator
