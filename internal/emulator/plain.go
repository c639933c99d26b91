package emulator

import (
	"maps"
	"strings"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// plain runs one of the eight operations that take plain child elements:
// the chat messages and files of a service request. It returns the
// outcome and the elements the answer adds after return (fileData).
func (c *call) plain(children []soap.Property) (outcome, []soap.Property) {
	// The children arrive as text; the catalogue checks their presence,
	// the AuthorID's UUID form and the base64 of Data.
	fields, bad := c.validate(propsMap(children))
	if bad != nil {
		return c.counted(*bad), nil
	}
	o, extra := c.plainOp(fields)
	return c.counted(o), extra
}

// plainOp applies a plain operation to validated fields.
func (c *call) plainOp(f map[string]soap.Value) (outcome, []soap.Property) {
	// Messages and files are objects of their own kinds, keyed by a new
	// UUID and pointing at their service request by ServiceRequestID;
	// Get("ServiceRequestMessage", id) shows them to tests.
	switch c.op.Name {
	case "ServiceRequestSendTextMessage":
		req, bad := c.serviceRequest(f)
		if bad != nil {
			return *bad, nil
		}
		r := c.attach("ServiceRequestMessage", req, map[string]soap.Value{
			"AuthorID": f["AuthorID"], "Message": f["Message"],
		})
		return success(keyStruct(kinds["ServiceRequestMessage"], r)), nil
	case "ServiceRequestEditTextMessage", "ServiceRequestDeleteTextMessage":
		// Both name the request and the message: a message of another
		// request is not found, a deleted one is OBJECT_DELETED.
		req, bad := c.serviceRequest(f)
		if bad != nil {
			return *bad, nil
		}
		msg, bad := c.child("ServiceRequestMessage", "MessageID", f, req)
		if bad != nil {
			return *bad, nil
		}
		if c.op.Name == "ServiceRequestDeleteTextMessage" {
			msg.deleted = true
		} else {
			msg.fields = maps.Clone(msg.fields) // never in place
			msg.fields["Message"] = f["Message"]
			msg.edits++
		}
		c.applied(msg)
		return success(soap.Null()), nil
	case "ServiceRequestMessages", "ServiceRequestFiles":
		req, bad := c.serviceRequest(f)
		if bad != nil {
			return *bad, nil
		}
		name := "ServiceRequestMessage"
		if c.op.Name == "ServiceRequestFiles" {
			name = "ServiceRequestFile"
		}
		return success(c.children(name, req)), nil
	case "ServiceRequestAttachFile":
		// The Hash is kept as given, not checked: its algorithm is not
		// published.
		req, bad := c.serviceRequest(f)
		if bad != nil {
			return *bad, nil
		}
		r := c.attach("ServiceRequestFile", req, map[string]soap.Value{
			"AuthorID": f["AuthorID"], "Name": f["Name"], "Hash": f["Hash"], "Data": f["Data"],
		})
		return success(keyStruct(kinds["ServiceRequestFile"], r)), nil
	case "ServiceRequestDeleteFile", "ServiceRequestDownloadFile":
		// These name the file alone. DeleteFile's AuthorID is validated
		// but not compared with the file's author: the rule is not
		// published. DownloadFile answers nil ResultData and the content
		// as fileData after return, as its WSDL declares.
		file, bad := c.child("ServiceRequestFile", "FileID", f, nil)
		if bad != nil {
			return *bad, nil
		}
		if c.op.Name == "ServiceRequestDeleteFile" {
			file.deleted = true
			c.applied(file)
			return success(soap.Null()), nil
		}
		return success(soap.Null()), []soap.Property{{Name: "fileData", Value: file.fields["Data"]}}
	}
	// The catalogue has no other plain operation; a new one would be
	// accepted once its children validate.
	return success(soap.Null()), nil
}

// serviceRequest returns the live service request the fields name.
func (c *call) serviceRequest(f map[string]soap.Value) (*record, *outcome) {
	return c.live("ServiceRequest", "ServiceRequestID", strings.ToLower(f["ServiceRequestID"].Text))
}

// attach adds a message or file with a new id to a service request.
func (c *call) attach(name string, req *record, fields map[string]soap.Value) *record {
	k := kinds[name]
	id := c.s.newUUID()
	fields[k.key[0]] = soap.String(id)
	fields["ServiceRequestID"] = soap.String(req.id)
	r := c.s.insert(k, id, fields, c.now)
	c.applied(r)
	return r
}

// child returns the live message or file that field names; when req is
// not nil it must belong to that service request.
func (c *call) child(name, field string, f map[string]soap.Value, req *record) (*record, *outcome) {
	id := strings.ToLower(f[field].Text)
	r, bad := c.live(name, field, id)
	if bad != nil {
		return nil, bad
	}
	if req != nil && r.fields["ServiceRequestID"].Text != req.id {
		o := failure(CodeObjectNotFound, "%s: %s %s not found in service request %s", field, name, id, req.id)
		return nil, &o
	}
	return r, nil
}

// children lists the live messages or files of a service request, oldest
// first.
func (c *call) children(name string, req *record) soap.Value {
	k := kinds[name]
	out := &soap.Table{Columns: columnsOf(k.cols)}
	for _, r := range c.s.table(name).list {
		if r.deleted || r.fields["ServiceRequestID"].Text != req.id {
			continue
		}
		row := make([]soap.Value, len(k.cols))
		for j, col := range k.cols {
			row[j] = col.cell(r)
		}
		out.Rows = append(out.Rows, row)
	}
	return soap.TableValue(out)
}
