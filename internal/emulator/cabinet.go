package emulator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// This file makes the changes people make in the web cabinet, without the
// API: an object of a change-tracked kind created, edited or deleted, its
// change time stamped. The churn (churn.go) makes them at a rate, and
// SeedObjects creates many at once. Every function here runs with s.mu
// held and draws from the rng it is given, so that equal seeds and equal
// stores make equal changes.

// cabinetKinds are the kinds people change, with how often a change is of
// that kind: client users most, then their lines and specialists.
var cabinetKinds = []cabinetKind{
	{"ClientUser", 40},
	{"Specialist", 12},
	{"UserServiceLine", 10},
	{"Client", 10},
	{"ClientDepartment", 8},
	{"Department", 6},
	{"Competence", 8},
	{"ServiceLineKind", 6},
}

// cabinetKind is a kind people change, and how often.
type cabinetKind struct {
	name   string
	weight int
}

// cabinetKindNames lists the kinds, for errors.
func cabinetKindNames() string {
	names := make([]string, len(cabinetKinds))
	for i, k := range cabinetKinds {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// churnKinds are the kinds the churn changes: those of Config.ChurnKinds,
// or all.
func churnKinds(only []string) []cabinetKind {
	if len(only) == 0 {
		return cabinetKinds
	}
	var out []cabinetKind
	for _, k := range cabinetKinds {
		if slices.Contains(only, k.name) {
			out = append(out, k)
		}
	}
	return out
}

// Words of the fields people type, each within its read's column length
// (names 20 characters, posts 50).
var (
	firstNames = []string{"Анна", "Иван", "Мария", "Пётр", "Ольга", "Сергей", "Елена", "Дмитрий", "Anna", "John"}
	surnames   = []string{"Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Соколов", "Lee", "Smith"}
	posts      = []string{"Бухгалтер", "Главный бухгалтер", "Менеджер", "Директор", "Инженер", "Кладовщик"}
)

// change is what a cabinet change did, for the churn's counters.
type change uint8

const (
	created change = iota + 1
	edited
	deleted
)

// ChurnCounts are the changes the churn made to one kind of object.
type ChurnCounts struct {
	Created int `json:"created"`
	Edited  int `json:"edited"`
	Deleted int `json:"deleted"`
}

// countChange adds one change of r to the churn's counters, and hands it
// to Config.OnChurn, while the churn makes it (not SeedObjects).
func (s *Server) countChange(r *record, ch change) {
	if !s.churning {
		return
	}
	s.reportChange(r, ch)
	name := r.kind
	c := s.churned[name]
	switch ch {
	case created:
		c.Created++
	case edited:
		c.Edited++
	case deleted:
		c.Deleted++
	}
	s.churned[name] = c
}

// cabinetChange makes one change, drawn from rng, at now: a kind of kinds
// by weight, then, when the kind has live objects, an edit (60%), a
// creation (25%) or a deletion (15%); a creation when it has none.
func (s *Server) cabinetChange(rng *rand.Rand, kinds []cabinetKind, now time.Time) {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	pick := rng.IntN(total)
	name := kinds[0].name
	for _, k := range kinds {
		if pick < k.weight {
			name = k.name
			break
		}
		pick -= k.weight
	}
	r := s.pickLive(name, rng)
	switch roll := rng.Float64(); {
	case r == nil || roll < 0.25:
		s.create(name, rng, now)
	case roll < 0.85:
		s.editByHand(r, rng, now)
		s.countChange(r, edited)
	default:
		r.deleted, r.changed = true, now
		s.countChange(r, deleted)
	}
}

// pickLive returns a live object of kind name drawn from rng, or nil when
// a few draws found none.
func (s *Server) pickLive(name string, rng *rand.Rand) *record {
	list := s.table(name).list
	for range 8 {
		if len(list) == 0 {
			return nil
		}
		if r := list[rng.IntN(len(list))]; !r.deleted {
			return r
		}
	}
	return nil
}

// partner returns a live object of kind name for an object to refer to,
// creating one when none is found.
func (s *Server) partner(name string, rng *rand.Rand, now time.Time) *record {
	if r := s.pickLive(name, rng); r != nil {
		return r
	}
	return s.create(name, rng, now)
}

// create makes a new object of kind name with the fields a person would
// give it, creating the objects it refers to when none is live, and
// returns it. An association that exists already is edited instead (or
// restored, when deleted).
func (s *Server) create(name string, rng *rand.Rand, now time.Time) *record {
	k := kinds[name]
	s.made++
	n := s.made
	first, sur := firstNames[rng.IntN(len(firstNames))], surnames[rng.IntN(len(surnames))]
	f := map[string]soap.Value{}
	id := ""
	switch name {
	case "Client":
		f["Name"] = soap.String(fmt.Sprintf("ООО «Клиент %d»", n))
	case "ClientUser":
		f["ClientID"] = soap.String(s.partner("Client", rng, now).id)
		f["Name"], f["Surname"] = soap.String(first), soap.String(sur)
		f["Post"] = soap.String(posts[rng.IntN(len(posts))])
		f["Phone"] = soap.String(phone(rng))
		f["EMail"] = soap.String(fmt.Sprintf("user%d@example.com", n))
	case "Specialist":
		f["Name"], f["Surname"] = soap.String(first), soap.String(sur)
		f["Post"] = soap.String(posts[rng.IntN(len(posts))])
		f["Phone"] = soap.String(phone(rng))
		f["EMail"] = soap.String(fmt.Sprintf("specialist%d@example.com", n))
		s.logins++
		f["Login"] = soap.Int(int64(100000 + s.logins))
		if d := s.pickLive("Department", rng); d != nil {
			f["DepartmentID"] = soap.String(d.id)
		}
	case "Department":
		f["Name"] = soap.String(fmt.Sprintf("Отдел %d", n))
	case "ClientDepartment":
		f["ClientID"] = soap.String(s.partner("Client", rng, now).id)
		f["Name"] = soap.String(fmt.Sprintf("Подразделение %d", n))
	case "ServiceLineKind":
		f["Name"] = soap.String(fmt.Sprintf("Линия %d", n))
	case "Competence":
		id = s.partner("Specialist", rng, now).id + "/" + s.partner("ServiceLineKind", rng, now).id
		f["Priority"] = soap.Int(rng.Int64N(4))
	case "UserServiceLine":
		id = s.partner("ClientUser", rng, now).id + "/" + s.partner("ServiceLineKind", rng, now).id
		f["ActivateDate"] = soap.DateTime(now)
		f["ExpiresDate"] = expiry(rng, now)
	}
	if id == "" {
		id = s.newUUIDFrom(rng)
	} else if r := s.find(name, id); r != nil {
		// The pair is connected already: a person edits it, or connects
		// a deleted one again.
		r.fields, r.deleted, r.changed = setKey(k, id, f), false, now
		s.countChange(r, edited)
		return r
	}
	r := s.insert(k, id, setKey(k, id, f), now)
	s.countChange(r, created)
	return r
}

// editByHand changes one field of r as a person would, at now.
func (s *Server) editByHand(r *record, rng *rand.Rand, now time.Time) {
	var name string
	var v soap.Value
	switch r.kind {
	case "ClientUser", "Specialist":
		switch rng.IntN(3) {
		case 0:
			name, v = "Surname", soap.String(surnames[rng.IntN(len(surnames))])
		case 1:
			name, v = "Post", soap.String(posts[rng.IntN(len(posts))])
		default:
			name, v = "Phone", soap.String(phone(rng))
		}
	case "Competence":
		name, v = "Priority", soap.Int(rng.Int64N(4))
	case "UserServiceLine":
		name, v = "ExpiresDate", expiry(rng, now)
	default:
		name, v = "Name", soap.String(fmt.Sprintf("%s (%d)", nameStem(r), rng.IntN(1000)))
	}
	f := make(map[string]soap.Value, len(r.fields)+1)
	for k, old := range r.fields {
		f[k] = old
	}
	f[name] = v // a new map: snapshots share the old one
	r.fields, r.changed = f, now
}

// nameStem returns r's name without a suffix an earlier edit added, so
// that names stay within their column's length.
func nameStem(r *record) string {
	name := r.fields["Name"].Text
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '(' && i > 0 {
			return name[:i-1]
		}
	}
	return name
}

// phone returns a Russian mobile number drawn from rng.
func phone(rng *rand.Rand) string {
	return fmt.Sprintf("+7 9%02d %03d-%02d-%02d", rng.IntN(100), rng.IntN(1000), rng.IntN(100), rng.IntN(100))
}

// expiry returns when a line connection ends: never (the empty date), or
// in a year.
func expiry(rng *rand.Rand, now time.Time) soap.Value {
	if rng.IntN(2) == 0 {
		return emptyDate
	}
	return soap.DateTime(now.AddDate(1, 0, 0))
}
