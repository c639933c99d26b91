// Package catalog says what each of the 87 operations of the 1C-Connect
// server API (the SOAP service PartnerWebAPI2) is: how it is called, which
// object it touches and by which key, its parameters and their XDTO types,
// and how often it may be called.
//
// # Overview
//
// The catalogue is one table of [Operation] values, written as data from
// the digest of what is known about the service (API-NOTES.md in the shared
// reference material, itself drawn from the service's wiki, its WSDL,
// recorded traffic and third-party client code). [Lookup] finds an
// operation by name, [All] lists them, [Operation.Fields] (or
// [Operation.FieldsWithin], with [FieldLimits]) validates a command's
// fields and converts them to soap values, and [WSDL] writes a
// WSDL 1.1 document of all operations (for the sandbox service).
//
// # Invariants
//
//   - There are exactly 87 operations, the set the real WSDL declares; 79
//     take one Params Structure (or ValueTable) and 8 take plain children
//     (Kind [Plain]). A test checks both against the real WSDL when it is
//     present and against the generated one always.
//   - The table is immutable. Lookup and All hand out pointers into it,
//     shared by every caller; nobody may modify what they point to.
//   - Every operation has a positive day and night limit and a positive
//     MaxRows: at most 100 for [BatchWrite], exactly 1 for every other kind.
//   - Every Key field is one of the operation's Params and is required.
//   - The change-tracked reads ([ChangeTracked], [LookupChangeTracked])
//     are exactly the ChangeRead operations: each takes ChangedFrom
//     (xs:dateTime) and has IDColumns, the key of its object's Delete;
//     ChangedFrom is Confirmed for the five the service documents and
//     Inferred for the rest.
//   - The reads that take a period ([PeriodReads], [LookupPeriodRead])
//     are PeriodRead operations, each with a positive bound by day and at
//     night ([Operation.Period]); the bound is Confirmed for
//     GetHistoryOfServiceCalls (7 days) and GetHistoryOfServiceTreatments
//     (35 days) and DefaultMaxPeriod, Inferred, for the rest. A row's
//     IDColumn, where named, is a result column the notes' naming gives.
//   - Fields is deterministic: known parameters come out in catalogue
//     order, then (for operations whose parameters are not published) the
//     other fields sorted by name, so a packet's columns do not depend on
//     map iteration order.
//
// # Unknowns
//
// Most of the service's parameters and limits are not published. Where the
// notes are silent the catalogue says so rather than guessing wide:
//
//   - ParamsKnown false means Params lists only what is known (often just
//     the key, or ChangedFrom); any other field whose name is valid
//     (soap.ValidName, the rule the encoder applies too, so that a field
//     that passes validation can always be sent) is accepted and typed by
//     its Go value, and no longer than FieldLimits.MaxUnknownBytes.
//   - A limit that is not confirmed is marked [Inferred] (or [ThirdParty])
//     in LimitSource and uses the conservative day limit at night too.
//   - Identifiers are validated as UUIDs only where the notes show them as
//     such (directory objects); ids of service requests, their messages and
//     files are plain strings.
//
// # Secrets
//
// Parameters that hold secrets (the passwords of ClientUserEdit,
// SpecialistAdd and SpecialistEdit) are marked [Param.Secret], and
// [Operation.IsSecret] tells the rest of the system which fields not to
// show. No problem Fields reports ever quotes a field's value, secret or
// not: it names the value's type and, for strings and bytes, their
// length.
//
// # Failure handling
//
// Fields reports every problem of a command at once as [FieldErrors], so a
// producer can fix a command in one round. Such a command is malformed and
// must not be retried.
package catalog
