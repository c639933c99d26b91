package emulator

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// record is one stored object.
type record struct {
	id   string
	kind string // the kind's name
	// fields are the object's fields as the catalogue typed them, the key
	// fields included. The map is never changed once stored: a change
	// replaces it, so that a read's snapshot (answer) may share it.
	fields  map[string]soap.Value
	deleted bool
	// created and changed are in the account's time zone, truncated to
	// the second (the precision of ChangedFrom).
	created, changed time.Time
	// edits counts Edit rows applied; writes counts every write through
	// the API (Add, Edit, Delete, messages and files).
	edits, writes int
}

// table holds the objects of one kind.
type table struct {
	byID map[string]*record
	list []*record // in creation order: reads answer in it
}

// Object is a snapshot of one stored object, for tests.
type Object struct {
	// ID is the object's id: its key field, or for an association the
	// values of its key fields joined by "/".
	ID string
	// Fields are the object's fields (key fields included), as typed by
	// the catalogue when they came through the API.
	Fields map[string]soap.Value
	// Deleted reports whether the object is marked deleted.
	Deleted bool
	// Created and Changed are the creation and last change time, in the
	// account's time zone, to the second.
	Created, Changed time.Time
	// Edits is the number of Edit rows applied to the object; a test that
	// checks "no edit applied twice" compares it with the edits it sent.
	Edits int
	// Writes is the number of writes through the API (Add, Edit, Delete).
	Writes int
	// Row is the object as a read of its kind answers it, by column name:
	// what a change feed mirrors. Deleted and the creation time are
	// cells; secrets (Password) are not. An open kind's row also has a
	// column for each field of the object its columns do not list; in a
	// read together with other objects, the columns only they have are
	// nil for this one.
	Row map[string]soap.Value
}

// snapshot returns r as an Object of kind k.
func snapshot(k *kind, r *record) Object {
	o := Object{ID: r.id, Fields: maps.Clone(r.fields), Deleted: r.deleted,
		Created: r.created, Changed: r.changed, Edits: r.edits, Writes: r.writes,
		Row: make(map[string]soap.Value, len(k.cols))}
	cols := k.cols
	if k.open {
		cols = append(slices.Clone(cols), extraColumns(k, []record{*r})...)
	}
	for _, c := range cols {
		o.Row[c.name] = c.cell(r)
	}
	return o
}

// SeedClientID is the id of the client that SeedClientUsers creates.
const SeedClientID = "00000000-0000-4000-9000-000000000001"

// table returns the table of kind name, creating it. Callers hold s.mu.
func (s *Server) table(name string) *table {
	t := s.tables[name]
	if t == nil {
		t = &table{byID: map[string]*record{}}
		s.tables[name] = t
	}
	return t
}

// insert stores a new object. Callers hold s.mu.
func (s *Server) insert(k *kind, id string, fields map[string]soap.Value, now time.Time) *record {
	r := &record{id: id, kind: k.name, fields: fields, created: now, changed: now}
	t := s.table(k.name)
	t.byID[id] = r
	t.list = append(t.list, r)
	return r
}

// find returns the object of kind name with id. Callers hold s.mu.
func (s *Server) find(name, id string) *record {
	return s.table(name).byID[id]
}

// stamp returns now in the account's time zone to the second: the form
// of every change time.
func (s *Server) stamp(now time.Time) time.Time {
	return now.In(s.cfg.Location).Truncate(time.Second)
}

// newUUID returns a random (version 4) UUID from the seeded source.
// Callers hold s.mu.
func (s *Server) newUUID() string { return s.newUUIDFrom(s.rng) }

// newUUIDFrom returns a random (version 4) UUID drawn from rng.
func (s *Server) newUUIDFrom(rng *rand.Rand) string { return uuidFrom(rng) }

// uuidFrom returns a random (version 4) UUID drawn from rng.
func uuidFrom(rng *rand.Rand) string {
	var b [16]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Put stores an object of the named kind, replacing its fields and
// clearing its deleted mark, and stamps its change time; it does not count
// as an edit. An empty id asks for a new one (kinds with a single key
// only). It returns the object's id.
//
// Kinds are the catalogue's Object names the emulator keeps (Client,
// ClientUser, ClientDepartment, ClientAdditionalParameter,
// ClientAdditionalParameterValue, Specialist, Department, Competence,
// ServiceLineKind, UserServiceLine, ServiceKind, ServiceRequestType,
// ServiceRequest, PartnerNotification) and ServiceRequestMessage,
// ServiceRequestFile, Region, ServiceRequestChannel, ServiceRequestStatus.
// The id of an association (Competence, UserServiceLine,
// ClientAdditionalParameterValue) is its key values joined by "/" in key
// order, e.g. SpecialistID + "/" + ServiceID.
func (s *Server) Put(object, id string, fields map[string]soap.Value) (string, error) {
	k := kinds[object]
	if k == nil {
		return "", fmt.Errorf("emulator: put: unknown kind of object %q", object)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		if len(k.key) != 1 {
			return "", fmt.Errorf("emulator: put %s: an association needs its id", object)
		}
		id = s.newUUID()
	}
	id = strings.ToLower(id)
	if strings.Count(id, "/") != len(k.key)-1 {
		return "", fmt.Errorf("emulator: put %s: id %q does not have %d parts (%s)", object, id, len(k.key), strings.Join(k.key, "/"))
	}
	for name := range fields {
		// A read lists an open kind's fields as columns: they must be
		// names the encoder can write.
		if !soap.ValidName(name) {
			return "", fmt.Errorf("emulator: put %s: field %q is not a name (see soap.ValidName)", object, name)
		}
	}
	f := maps.Clone(fields)
	if f == nil {
		f = map[string]soap.Value{}
	}
	setKey(k, id, f)
	now := s.stamp(s.cfg.Now())
	if r := s.find(object, id); r != nil {
		r.fields, r.deleted, r.changed = f, false, now
		return id, nil
	}
	s.insert(k, id, f, now)
	return id, nil
}

// Get returns a snapshot of the object of the named kind with id (any
// case), and whether it exists.
func (s *Server) Get(object, id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[object]
	if t == nil {
		return Object{}, false
	}
	r := t.byID[strings.ToLower(id)]
	if r == nil {
		return Object{}, false
	}
	return snapshot(kinds[object], r), true
}

// Objects returns a snapshot of every stored object of the named kind
// (see Put for the kinds), deleted ones included, in creation order: the
// store a test compares a change feed's mirror with. Nil for a kind
// without objects or unknown.
func (s *Server) Objects(object string) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[object]
	if t == nil {
		return nil
	}
	out := make([]Object, len(t.list))
	for i, r := range t.list {
		out[i] = snapshot(kinds[object], r)
	}
	return out
}

// Applied returns the ids of the objects the successful rows of op
// touched, in the order they were applied (one entry per row; a repeated
// id means the object was written more than once).
func (s *Server) Applied(op string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.applied[op]...)
}

// SeedClientUsers creates n client users of the client SeedClientID
// (created too when missing), with ids 00000000-0000-4000-8000-%012d
// numbered on from earlier calls (1, 2, … on a fresh server), and fields
// that pass ClientUserEdit's validation. It returns their ids.
func (s *Server) SeedClientUsers(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp(s.cfg.Now())
	if s.find("Client", SeedClientID) == nil {
		s.insert(kinds["Client"], SeedClientID, map[string]soap.Value{
			"ClientID": soap.String(SeedClientID),
			"Name":     soap.String("Seed client"),
		}, now)
	}
	ids := make([]string, n)
	for i := range ids {
		s.seeded++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seeded)
		fields := map[string]soap.Value{
			"ClientUserID": soap.String(id),
			"ClientID":     soap.String(SeedClientID),
			"Name":         soap.String(fmt.Sprintf("User %d", s.seeded)),
			"Surname":      soap.String("Seeded"),
			"Password":     soap.String("secret"),
			"Phone":        soap.String(fmt.Sprintf("+7900%07d", s.seeded)),
			"EMail":        soap.String(fmt.Sprintf("user%d@example.com", s.seeded)),
		}
		// A test may have Put a user with this id already: replace it
		// rather than list it twice.
		if r := s.find("ClientUser", id); r != nil {
			r.fields, r.deleted, r.changed = fields, false, now
		} else {
			s.insert(kinds["ClientUser"], id, fields, now)
		}
		ids[i] = id
	}
	return ids
}

// SeedObjects creates n objects of a kind at once, without the API and
// with fields a person would give them (the churn's), stamped now, and
// returns their ids: client users as SeedClientUsers makes them (ids
// numbered, of the client SeedClientID), and objects of the other kinds
// with ids of their own: Client, Specialist, Department, ClientDepartment
// and ServiceLineKind (the objects they refer to are drawn from the live
// ones, created when there are none). It is the fast way to fill a
// directory for a change feed's first read: 100,000 client users take
// well under a second. Associations (Competence, UserServiceLine) are
// refused: n distinct pairs need partners chosen with care; Put them.
func (s *Server) SeedObjects(object string, n int) ([]string, error) {
	switch object {
	case "ClientUser":
		return s.SeedClientUsers(n), nil
	case "Client", "Specialist", "Department", "ClientDepartment", "ServiceLineKind":
	default:
		return nil, fmt.Errorf("emulator: seed: %q is not a kind SeedObjects makes (Client, ClientUser, Specialist, Department, ClientDepartment, ServiceLineKind)", object)
	}
	if n < 0 {
		return nil, fmt.Errorf("emulator: seed %s: %d is negative", object, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp(s.cfg.Now())
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.create(object, s.rng, now).id
	}
	return ids, nil
}
