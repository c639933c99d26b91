package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Result codes the emulator answers with besides soap.CodeSuccess and
// soap.CodeOutOfLimit. The service's own list is not published; these are
// the emulator's, and clients must pass unknown codes through anyway.
const (
	// CodeInvalidParameter: a field is missing, of the wrong type, too
	// long, not a UUID, or unknown to an operation whose parameters are
	// known. ResultData names the field.
	CodeInvalidParameter = "INVALID_PARAMETER"
	// CodeObjectNotFound: the object the key names does not exist.
	CodeObjectNotFound = "OBJECT_NOT_FOUND"
	// CodeObjectDeleted: the object the key names is marked deleted.
	CodeObjectDeleted = "OBJECT_DELETED"
	// CodeObjectExists: an Add of an association (a competence, a line
	// connection) that already exists.
	CodeObjectExists = "OBJECT_EXISTS"
	// CodePacketTooLarge: a packet has more rows than the operation
	// accepts per call; it was refused as a whole, nothing was processed.
	CodePacketTooLarge = "PACKET_TOO_LARGE"
)

// limitReached is the ResultData of an OUT_OF_LIMIT answer.
const limitReached = "limit reached"

// outcome is the result of one object: a packet's row or a Structure call.
type outcome struct {
	code string
	// data is the reason of a failure, the key Structure of an Add, or
	// nil for an Edit or Delete.
	data soap.Value
}

func success(data soap.Value) outcome { return outcome{code: soap.CodeSuccess, data: data} }

func failure(code, format string, args ...any) outcome {
	return outcome{code: code, data: soap.String(fmt.Sprintf(format, args...))}
}

// call is the state of one call being processed. Its methods run with
// s.mu held: a call is applied atomically with respect to other calls.
type call struct {
	s   *Server
	op  *catalog.Operation
	now time.Time // stamp of every change the call makes
	// rows counts objects processed (writes) or answered (reads), errs the
	// rows that failed.
	rows, errs int
	// answer, set by a read of stored objects or of the history, is what
	// its ResultData table is written from.
	answer reply
	// fault, when set, makes the call's answer a SOAP Fault with this
	// reason (a period longer than the read's bound): the call was
	// counted, nothing answered.
	fault string
}

// verb returns what op does to its Object: "Add", "Edit", "Read"… (the
// name without the object's prefix), or "" when the name does not start
// with the object (GetOpenedServiceTreatments).
func verb(op *catalog.Operation) string {
	v, ok := strings.CutPrefix(op.Name, op.Object)
	if !ok {
		return ""
	}
	return v
}

// dispatch runs a call whose limit was granted and returns the answer.
// The operation's catalogue kind says how it is called; its Object and
// verb say what it does to the store.
func (c *call) dispatch(req *soap.Request) *soap.Response {
	resp := &soap.Response{Op: c.op.Name}
	k, v := kinds[c.op.Object], verb(c.op)
	var o outcome
	switch {
	case c.op.Kind == catalog.Plain:
		o, resp.Extra = c.plain(req.Children)
	case req.Params.Kind == soap.KindTable && c.op.Kind == catalog.BatchWrite:
		o = c.packet(k, v, req.Params.Table)
	case req.Params.Kind == soap.KindTable:
		// Only the …Add/Edit/Delete family takes packets (MaxRows > 1).
		o = c.counted(failure(CodeInvalidParameter, "Params: %s takes a Structure, not a packet", c.op.Name))
	case c.op.Kind == catalog.ChangeRead || c.op.Kind == catalog.Read || c.op.Kind == catalog.PeriodRead:
		o = c.read(k, v, req.Params)
	default:
		// A Structure is one object, and its result is the call's.
		o = c.counted(c.write(k, v, propsMap(req.Params.Props)))
	}
	resp.Code, resp.Data = o.code, o.data
	return resp
}

// counted counts o as one object processed, and as failed unless it
// succeeded; it returns o.
func (c *call) counted(o outcome) outcome {
	c.rows++
	if o.code != soap.CodeSuccess {
		c.errs++
	}
	return o
}

// packet processes a ValueTable of objects row by row, in order, going on
// after a failed row, and answers with a table of one ResultCode and
// ResultData per input row. A packet longer than the operation accepts is
// refused as a whole, before any row is looked at.
func (c *call) packet(k *kind, v string, t *soap.Table) outcome {
	limit := c.op.MaxRows
	if c.s.cfg.PacketLimit > 0 {
		limit = c.s.cfg.PacketLimit
	}
	if len(t.Rows) > limit {
		return failure(CodePacketTooLarge, "Params: a packet of %d objects exceeds the limit of %d per call; nothing was processed", len(t.Rows), limit)
	}
	out := &soap.Table{Columns: []soap.Column{
		{Name: "ResultCode", Type: soap.TypeOf(soap.KindString)},
		{Name: "ResultData"}, // any type, as the service declares it
	}}
	for _, row := range t.Rows {
		// Cells map to columns by position; a short row leaves the
		// missing columns out, which is the same as nil: not given.
		fields := make(map[string]soap.Value, len(t.Columns))
		for j, col := range t.Columns {
			if j < len(row) {
				fields[col.Name] = row[j]
			}
		}
		o := c.counted(c.write(k, v, fields))
		if o.code == soap.CodeSuccess && o.data.IsNil() {
			// A packet's successful edit or delete answers true, as in the
			// API's example response.
			o.data = soap.Bool(true)
		}
		out.Rows = append(out.Rows, []soap.Value{soap.String(o.code), o.data})
	}
	return success(soap.TableValue(out))
}

// propsMap returns a Structure's properties by name (a repeated name: the
// last wins).
func propsMap(props []soap.Property) map[string]soap.Value {
	m := make(map[string]soap.Value, len(props))
	for _, p := range props {
		m[p.Name] = p.Value
	}
	return m
}

// validate converts fields to Go values and has the catalogue check and
// type them. A nil value means "not given" and is left out, so a packet's
// empty cells do not clear fields. It returns the typed fields, or the
// INVALID_PARAMETER outcome naming every bad field.
func (c *call) validate(fields map[string]soap.Value) (map[string]soap.Value, *outcome) {
	in := make(map[string]any, len(fields))
	for name, v := range fields {
		if !v.IsNil() {
			in[name] = c.s.goValue(v)
		}
	}
	props, err := c.op.Fields(in)
	if err != nil {
		o := failure(CodeInvalidParameter, "%s", strings.TrimPrefix(err.Error(), "catalog: "))
		return nil, &o
	}
	out := propsMap(props)
	for name, v := range out {
		if v.IsNil() {
			delete(out, name)
		}
	}
	return out, nil
}

// goValue turns a received value into the Go value the catalogue's Fields
// accepts, keeping its type: decimals exact, times as time.Time in the
// account's zone, binary as bytes. A value that does not parse is passed
// as its text, for Fields to refuse.
func (s *Server) goValue(v soap.Value) any {
	switch v.Kind {
	case soap.KindDecimal:
		return json.Number(v.Text)
	case soap.KindBoolean:
		if b, err := v.BoolValue(); err == nil {
			return b
		}
	case soap.KindDateTime:
		// A time that carries an offset means that instant: the catalogue
		// keeps a time's wall clock, so it is given in the account's zone.
		if t, err := v.TimeValue(s.cfg.Location); err == nil {
			return t.In(s.cfg.Location)
		}
	case soap.KindDate:
		if t, err := v.TimeValue(s.cfg.Location); err == nil {
			return t
		}
	case soap.KindBinary:
		if b, err := base64.StdEncoding.DecodeString(v.Text); err == nil {
			return b
		}
	case soap.KindStructure, soap.KindTable:
		return v.Interface() // an object or array: Fields refuses it
	}
	return v.Text
}

// keyOf returns the id of the object fields name in kind k: the key
// field's value, or the key values joined by "/", in lower case.
func keyOf(k *kind, fields map[string]soap.Value) (string, *outcome) {
	parts := make([]string, len(k.key))
	for i, name := range k.key {
		v := fields[name]
		if v.Kind != soap.KindString || v.Text == "" {
			o := failure(CodeInvalidParameter, "%s: required", name)
			return "", &o
		}
		parts[i] = strings.ToLower(v.Text)
	}
	return strings.Join(parts, "/"), nil
}

// setKey sets the key fields of fields from id (as keyOf made it) and
// returns fields.
func setKey(k *kind, id string, fields map[string]soap.Value) map[string]soap.Value {
	for i, part := range strings.SplitN(id, "/", len(k.key)) {
		fields[k.key[i]] = soap.String(part)
	}
	return fields
}

// keyStruct returns the key fields of r as a Structure: what an Add
// answers.
func keyStruct(k *kind, r *record) soap.Value {
	props := make([]soap.Property, len(k.key))
	for i, name := range k.key {
		props[i] = soap.Property{Name: name, Value: r.fields[name]}
	}
	return soap.Struct(props...)
}

// live returns the object of kind name with id, or the outcome saying it
// is missing or deleted; field names the key in the reason.
func (c *call) live(name, field, id string) (*record, *outcome) {
	r := c.s.find(name, id)
	if r == nil {
		o := failure(CodeObjectNotFound, "%s: %s %s not found", field, name, id)
		return nil, &o
	}
	if r.deleted {
		o := failure(CodeObjectDeleted, "%s: %s %s is deleted", field, name, id)
		return nil, &o
	}
	return r, nil
}

// applied records that a row of the call touched r.
func (c *call) applied(r *record) {
	r.writes++
	r.changed = c.now
	c.s.applied[c.op.Name] = append(c.s.applied[c.op.Name], r.id)
}

// write applies one object of a write operation: Add, Edit or Delete of
// the operation's object, or one of the writes without an object model.
func (c *call) write(k *kind, v string, fields map[string]soap.Value) outcome {
	fields, bad := c.validate(fields)
	if bad != nil {
		return *bad
	}
	switch {
	case k == nil:
		// Storefront answers and other writes the emulator keeps no
		// model of: valid is enough.
		return success(soap.Null())
	case v == "Add":
		return c.add(k, fields)
	case v == "Edit", strings.HasPrefix(v, "Set"): // ClientSet…Manager sets fields of a client
		return c.edit(k, fields)
	case v == "Delete":
		return c.remove(k, fields)
	case strings.HasPrefix(v, "Send"):
		// A welcome e-mail needs a live addressee; sending changes
		// nothing, so only the log records it.
		id, bad := keyOf(k, fields)
		if bad != nil {
			return *bad
		}
		r, bad := c.live(k.name, k.key[0], id)
		if bad != nil {
			return *bad
		}
		c.s.applied[c.op.Name] = append(c.s.applied[c.op.Name], r.id)
		return success(soap.Null())
	}
	// No other write verb exists in the catalogue; a new one would be
	// accepted once its fields validate.
	return success(soap.Null())
}

// add creates an object. A single-key object gets a new UUID (a key field
// given by the caller is overwritten); an association is keyed by the
// pair it joins, and adding a live one again is an error.
func (c *call) add(k *kind, fields map[string]soap.Value) outcome {
	var id string
	if len(k.key) == 1 {
		id = c.s.newUUID()
	} else {
		var bad *outcome
		if id, bad = keyOf(k, fields); bad != nil {
			return *bad
		}
		if r := c.s.find(k.name, id); r != nil {
			if !r.deleted {
				return failure(CodeObjectExists, "%s: %s %s already exists", strings.Join(k.key, ", "), k.name, id)
			}
			// Adding a deleted association again restores it, with the
			// new fields.
			r.fields, r.deleted = setKey(k, id, fields), false
			c.applied(r)
			return success(keyStruct(k, r))
		}
	}
	if k.name == "Specialist" {
		// A specialist's login is a number the service assigns.
		c.s.logins++
		fields["Login"] = soap.Int(int64(100000 + c.s.logins))
	}
	r := c.s.insert(k, id, setKey(k, id, fields), c.now)
	c.applied(r)
	return success(keyStruct(k, r))
}

// edit merges the given fields into an existing object; fields not given
// keep their values.
func (c *call) edit(k *kind, fields map[string]soap.Value) outcome {
	id, bad := keyOf(k, fields)
	if bad != nil {
		return *bad
	}
	r := c.s.find(k.name, id)
	if r == nil && k.upsert {
		r = c.s.insert(k, id, setKey(k, id, map[string]soap.Value{}), c.now)
	}
	if r == nil {
		return failure(CodeObjectNotFound, "%s: %s %s not found", strings.Join(k.key, ", "), k.name, id)
	}
	if r.deleted {
		return failure(CodeObjectDeleted, "%s: %s %s is deleted", strings.Join(k.key, ", "), k.name, id)
	}
	f := maps.Clone(r.fields) // never in place: reads' snapshots share the map
	for name, v := range fields {
		// The key stays as stored: the caller's may differ in case.
		if !slices.Contains(k.key, name) {
			f[name] = v
		}
	}
	r.fields = f
	r.edits++
	c.applied(r)
	return success(soap.Null())
}

// remove marks an existing object deleted. Deleting it again is an error.
func (c *call) remove(k *kind, fields map[string]soap.Value) outcome {
	id, bad := keyOf(k, fields)
	if bad != nil {
		return *bad
	}
	r, bad := c.live(k.name, strings.Join(k.key, ", "), id)
	if bad != nil {
		return *bad
	}
	if k.name == "ClientDepartment" {
		// ClientDepartmentDelete names the client too: the department
		// must be that client's, and the client not deleted.
		client := strings.ToLower(fields["ClientID"].Text)
		if owner := r.fields["ClientID"]; owner.Kind == soap.KindString && !strings.EqualFold(owner.Text, client) {
			return failure(CodeObjectNotFound, "DepartmentID: department %s does not belong to client %s", id, client)
		}
		if cl := c.s.find("Client", client); cl != nil && cl.deleted {
			return failure(CodeObjectDeleted, "ClientID: Client %s is deleted", client)
		}
	}
	r.deleted = true
	c.applied(r)
	return success(soap.Null())
}

// read answers a read: the objects of kind k (all, or those changed at or
// after ChangedFrom, to the second, deleted ones with Deleted=true),
// filtered by any other given parameter that names a column; or, for the
// reads the emulator keeps no data for, an empty table of plausible
// columns. The objects' rows are not built here: c.answer takes a
// snapshot of them, written out after the lock is released.
func (c *call) read(k *kind, v string, params soap.Value) outcome {
	given, bad := c.validate(propsMap(params.Props))
	if bad != nil {
		return c.counted(*bad)
	}
	if c.op.Name == colleaguesOp {
		return c.colleaguesRead(given)
	}
	if spec, ok := historySpecs[c.op.Name]; ok {
		p, _ := c.op.Period() // every history spec is of a period read: a test holds it
		return c.periodRead(p, spec, given)
	}
	if k == nil || v != "Read" {
		cols := opColumns[c.op.Name]
		if cols == nil {
			cols = fallbackColumns(c.op.Object)
		}
		return success(soap.TableValue(&soap.Table{Columns: columnsOf(cols)}))
	}
	var from time.Time
	if cf, ok := given[catalog.ParamChangedFrom]; ok {
		// Fields has written it as a wall clock in the account's zone, to
		// the second (see goValue): the moment of a change stamp.
		t, err := cf.TimeValue(c.s.cfg.Location)
		if err != nil {
			// Fields has checked the form already; this is a safety net.
			return c.counted(failure(CodeInvalidParameter, "ChangedFrom: %v", err))
		}
		from = t
	}
	a := &answer{}
	withDeleted := k.listsDeleted()
	for _, r := range c.s.table(k.name).list {
		// At or after: a change stamped at the very second of ChangedFrom
		// is answered.
		if r.changed.Before(from) || r.deleted && !withDeleted || !matches(k, r, given) {
			continue
		}
		a.recs = append(a.recs, *r) // fields are never changed in place
	}
	a.cols = slices.Clone(k.cols)
	if k.open {
		a.cols = append(a.cols, extraColumns(k, a.recs)...)
	}
	c.answer = a
	c.rows += len(a.recs)
	return success(soap.Null())
}

// matches reports whether r passes the filters of a read: every given
// parameter (ChangedFrom aside) that names one of the kind's columns must
// equal r's value (ids in any case). ClientUserRead's ClientID is one.
func matches(k *kind, r *record, given map[string]soap.Value) bool {
	for name, want := range given {
		if name == catalog.ParamChangedFrom {
			continue
		}
		for _, col := range k.cols {
			if col.name == name && !strings.EqualFold(col.cell(r).Text, want.Text) {
				return false
			}
		}
	}
	return true
}

// extraColumns returns the fields of rows that an open kind's columns do
// not list, as untyped columns sorted by name.
func extraColumns(k *kind, rows []record) []column {
	var names []string
	for _, r := range rows {
		for name := range r.fields {
			if !slices.ContainsFunc(k.cols, func(c column) bool { return c.name == name }) && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	cols := make([]column, len(names))
	for i, name := range names {
		cols[i] = anyCol(name)
	}
	return cols
}

// columnsOf returns the soap columns of cols.
func columnsOf(cols []column) []soap.Column {
	out := make([]soap.Column, len(cols))
	for i, c := range cols {
		out[i] = soap.Column{Name: c.name, Type: c.typ}
	}
	return out
}
