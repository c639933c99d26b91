package catalog

import (
	"slices"
	"strconv"
	"strings"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Namespace is the target namespace of PartnerWebAPI2: the namespace of
// every operation element and of the soapAction URIs.
const Namespace = "http://buhphone.com/PartnerWebAPI2"

// Kind says how an operation is called and batched.
type Kind uint8

// The kinds of operation. The zero Kind is invalid: every catalogue entry
// sets one.
const (
	// BatchWrite operations (the …Add, …Edit, …Delete and …ValueEdit
	// family) change directory or service-desk objects and are coalesced
	// into ValueTable packets of up to MaxRows objects, one result row per
	// input row.
	BatchWrite Kind = iota + 1
	// SingleWrite operations change one object per call with a Structure
	// of parameters: manager assignments, welcome e-mails, notifications
	// and storefront buy-request answers.
	SingleWrite
	// ChangeRead operations read a directory and take an optional
	// ChangedFrom (xs:dateTime): only objects changed since then come back,
	// deleted ones with Deleted=true. The caller keeps its own watermark.
	// Operation.ChangedFrom says how sure that is.
	ChangeRead
	// Read operations read reference data, filtered lists or one object.
	Read
	// PeriodRead operations read history or statistics over a period.
	PeriodRead
	// Plain operations (the 8 message and file operations of a service
	// request) take plain child elements instead of Params.
	Plain
)

// String returns the constant's name, e.g. "BatchWrite".
func (k Kind) String() string {
	switch k {
	case BatchWrite:
		return "BatchWrite"
	case SingleWrite:
		return "SingleWrite"
	case ChangeRead:
		return "ChangeRead"
	case Read:
		return "Read"
	case PeriodRead:
		return "PeriodRead"
	case Plain:
		return "Plain"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Source says how sure a fact of the catalogue is; it mirrors the marks of
// the API notes.
type Source uint8

// The sources of a fact. The zero Source is invalid.
const (
	// Confirmed facts come from the service's wiki, its WSDL or recorded
	// traffic (the notes' [C]).
	Confirmed Source = iota + 1
	// ThirdParty facts come from third-party client code (the notes' [S]).
	ThirdParty
	// Inferred facts follow the pattern of confirmed ones (the notes' [I]);
	// deployments should be able to override them.
	Inferred
)

// String returns "confirmed", "third-party" or "inferred".
func (s Source) String() string {
	switch s {
	case Confirmed:
		return "confirmed"
	case ThirdParty:
		return "third-party"
	case Inferred:
		return "inferred"
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// Param is one known parameter of an operation: a property of its Params
// Structure (or a column of its packet), or a plain child element.
type Param struct {
	// Name is the property, column or element name, case-sensitive.
	Name string
	// Type is the XDTO type the value is sent as: KindString, KindDecimal,
	// KindBoolean, KindDateTime, KindDate or KindBinary.
	Type soap.Kind
	// MaxLen is the maximum length of a string in characters (runes).
	// Zero means unlimited.
	MaxLen int
	// Required means the field must be present and not null.
	Required bool
	// ID marks an object identifier that is validated as a UUID
	// (8-4-4-4-12 hexadecimal digits, any case).
	ID bool
	// Secret marks a value that must not be shown: in logs, errors,
	// results or dead letters. See Operation.IsSecret.
	Secret bool
}

// Operation is what the catalogue knows about one operation of
// PartnerWebAPI2. Values are shared and immutable: see the package doc.
type Operation struct {
	// Name is the operation name, as in the WSDL and the soapAction.
	Name string
	// Kind says how the operation is called and batched.
	Kind Kind
	// Object names the kind of object the operation touches, e.g.
	// "ClientUser". Operations on the same object share the name, so that
	// ordering by Object and Key holds across operations.
	Object string
	// Key lists the fields that identify the object for ordering: commands
	// with equal Object and key values must be applied in order. Nil for
	// operations that create an object with a new id, and for reads.
	// Every Key field is a required Param.
	Key []string
	// Params are the known parameters in API order.
	Params []Param
	// ParamsKnown reports whether Params is the complete list. When false
	// the parameters are not published: Params holds only what is known
	// (validated and typed), and any other field is accepted as given,
	// typed by its value.
	ParamsKnown bool
	// DayLimit is the number of calls allowed per hour by day.
	DayLimit int
	// NightLimit is the number of calls allowed per hour at night. Where it
	// is unknown it equals DayLimit.
	NightLimit int
	// LimitSource says how sure DayLimit, NightLimit and MaxRows are.
	LimitSource Source
	// MaxRows is the number of objects per packet of a BatchWrite
	// operation; 1 for every other kind.
	MaxRows int
	// Repeatable reports whether the call is safe to send again when its
	// outcome is unknown (edits, deletes, value edits and reads). Adds and
	// sends (welcome e-mails, notifications, messages, attached files) are
	// not: a repeat would create a second object or send twice.
	Repeatable bool
	// Results are the known result column names of a read, in the
	// recorded order; nil where the notes do not give them.
	Results []string
	// ChangedFrom says how sure the catalogue is that the read takes
	// ChangedFrom and answers with the objects changed at or after it,
	// deleted ones with Deleted=true (see ChangeTracked). Zero for the
	// operations that do not take it.
	ChangedFrom Source
	// IDColumns are the result columns that identify an object in the
	// rows of a change-tracked read, in key order: the object's id
	// (ClientUserID for ClientUserRead), or both ids an association joins
	// (ServiceUserID and ServiceID for UserServiceLineRead). They equal
	// the key of the object's Delete. Nil for the other operations.
	IDColumns []string
}

// Lookup returns the operation named name (case-sensitive). The result
// points into the shared table and must not be modified.
func Lookup(name string) (*Operation, bool) {
	i, ok := slices.BinarySearchFunc(operations[:], name, func(op Operation, name string) int {
		return strings.Compare(op.Name, name)
	})
	if !ok {
		return nil, false
	}
	return &operations[i], true
}

// All returns every operation, sorted by name. The slice is new on each
// call, but its elements point into the shared table and must not be
// modified.
func All() []*Operation {
	out := make([]*Operation, len(operations))
	for i := range operations {
		out[i] = &operations[i]
	}
	return out
}

// Names returns the name of every operation, sorted: the list of all
// operations wherever one is needed (the operations a worker serves by
// default, the rows of the quota table). The slice is new on each call.
func Names() []string {
	out := make([]string, len(operations))
	for i := range operations {
		out[i] = operations[i].Name
	}
	return out
}

// Limit returns the calls allowed per hour by night or by day.
func (op *Operation) Limit(night bool) int {
	if night {
		return op.NightLimit
	}
	return op.DayLimit
}

// SOAPAction returns the operation's soapAction URI, the same for the SOAP
// 1.1 and 1.2 bindings.
func (op *Operation) SOAPAction() string {
	return Namespace + "#PartnerWebAPI2:" + op.Name
}

// Edits reports whether the operation is of the Edit family (…Edit,
// …ValueEdit): a batched write that sets fields of an existing object,
// so that applying two of the object's edits with the same fields leaves
// what applying the later one alone leaves. Adds and Deletes are not.
func (op *Operation) Edits() bool {
	return op.Kind == BatchWrite && strings.HasSuffix(op.Name, "Edit") && len(op.Key) > 0
}

// Param returns the known parameter named name.
func (op *Operation) Param(name string) (Param, bool) {
	for _, p := range op.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// IsSecret reports whether the value of field must not be shown: a
// parameter marked Secret (the passwords), or, in an operation whose
// parameters are not published, a field no parameter declares whose name
// says it is one (it holds "password", "passwd", "secret" or "token", in
// any case), since such a field is passed through as given.
func (op *Operation) IsSecret(field string) bool {
	if p, ok := op.Param(field); ok {
		return p.Secret
	}
	if op.ParamsKnown {
		return false
	}
	lower := strings.ToLower(field)
	for _, word := range []string{"password", "passwd", "secret", "token"} {
		if strings.Contains(lower, word) {
			return true
		}
	}
	return false
}

// HourlyLimits returns op's day and night limits in calls per hour, and
// whether op is an operation of the API: the form the quota's limits take.
func HourlyLimits(op string) (day, night int, ok bool) {
	o, ok := Lookup(op)
	if !ok {
		return 0, 0, false
	}
	return o.DayLimit, o.NightLimit, true
}
