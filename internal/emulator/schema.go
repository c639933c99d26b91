package emulator

import (
	"slices"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// column is one column of a read's answer: its name, its declared type as
// the service writes it, and where a row's cell comes from.
type column struct {
	name string
	typ  soap.ValueType
	// zero is the cell of an object that lacks the field: what 1C writes
	// for an unset attribute of the column's type.
	zero soap.Value
	// get, when set, computes the cell (Deleted, CreatedAt); otherwise the
	// cell is the object's field of the column's name.
	get func(r *record) soap.Value
}

// cell returns r's value in the column.
func (c column) cell(r *record) soap.Value {
	if c.get != nil {
		return c.get(r)
	}
	if v, ok := r.fields[c.name]; ok && !v.IsNil() {
		return v
	}
	return c.zero
}

// emptyDate is how 1C writes an empty date: its first instant.
var emptyDate = soap.Value{Kind: soap.KindDateTime, Text: "0001-01-01T00:00:00"}

// Column constructors, in the forms of the recorded answers: identifiers
// are xs:string or Null with unlimited length, strings carry their length.

func idCol(name string) column {
	return column{name: name, typ: soap.ValueType{Types: []string{"xs:string", "Null"}, String: &soap.StringQualifiers{}}}
}

func strCol(name string, length int) column {
	return column{name: name, typ: soap.ValueType{Types: []string{"xs:string"}, String: &soap.StringQualifiers{Length: length}}, zero: soap.String("")}
}

func boolCol(name string) column {
	return column{name: name, typ: soap.ValueType{Types: []string{"xs:boolean"}}, zero: soap.Bool(false)}
}

func decCol(name string) column {
	return column{name: name, typ: soap.TypeOf(soap.KindDecimal), zero: soap.Int(0)}
}

func timeCol(name string) column {
	return column{name: name, typ: soap.TypeOf(soap.KindDateTime), zero: emptyDate}
}

func dateCol(name string) column {
	return column{name: name, typ: soap.TypeOf(soap.KindDate), zero: emptyDate}
}

// anyCol is a column of no declared type (<ValueType/>), for fields whose
// type is not published.
func anyCol(name string) column { return column{name: name} }

// deletedCol answers whether the object is marked deleted.
func deletedCol() column {
	c := boolCol(catalog.ColumnDeleted)
	c.get = func(r *record) soap.Value { return soap.Bool(r.deleted) }
	return c
}

// createdCol answers when the object was created, in the account's zone.
func createdCol(name string) column {
	c := timeCol(name)
	c.get = func(r *record) soap.Value { return soap.DateTime(r.created) }
	return c
}

// kind describes one kind of object the emulator stores.
type kind struct {
	// name is the catalogue's Object name, or one of the emulator's own
	// (ServiceRequestMessage, ServiceRequestFile, reference lists).
	name string
	// key are the fields that identify an object. One field: a UUID the
	// emulator assigns on Add. Several (associations): given by the
	// caller; the object's id is their values joined by "/".
	key []string
	// cols are the columns a read answers with, in order.
	cols []column
	// open means the kind's fields are not published: a read appends any
	// other stored field as a column of no declared type, sorted by name.
	open bool
	// upsert means Edit creates the object when it is missing (a
	// parameter's value for a client is set, not added).
	upsert bool
}

// listsDeleted reports whether reads list deleted objects (with
// Deleted=true) rather than leave them out: the change-tracked kinds do.
func (k *kind) listsDeleted() bool {
	return slices.ContainsFunc(k.cols, func(c column) bool { return c.name == catalog.ColumnDeleted })
}

// kinds are the objects the emulator stores, by name. Columns follow the
// recorded answers and API-NOTES where known (Department, Specialist,
// Region, UserServiceLine, ClientAdditionalParameterValue, GetOpened…);
// the others are a plausible guess in the same style and are open. The
// map and everything in it are read-only after package initialisation.
var kinds = func() map[string]*kind {
	list := []*kind{
		{name: "Client", key: []string{"ClientID"}, open: true,
			cols: []column{idCol("ClientID"), createdCol("CreatedAt"), deletedCol(), strCol("Name", 150)}},
		{name: "ClientUser", key: []string{"ClientUserID"},
			cols: []column{idCol("ClientUserID"), idCol("ClientID"), createdCol("CreatedAt"), deletedCol(),
				strCol("Name", 20), strCol("Surname", 20), strCol("SecondaryName", 20), dateCol("Birthday"),
				strCol("Post", 50), idCol("DepartmentID"), strCol("Phone", 320), strCol("EMail", 0)}},
		{name: "ClientDepartment", key: []string{"DepartmentID"}, open: true,
			cols: []column{idCol("DepartmentID"), idCol("ClientID"), strCol("Name", 100), deletedCol()}},
		{name: "ClientAdditionalParameter", key: []string{"ClientParameterID"}, open: true,
			cols: []column{idCol("ClientParameterID"), strCol("Name", 100), deletedCol()}},
		{name: "ClientAdditionalParameterValue", key: []string{"ClientParameterID", "ClientID"}, upsert: true,
			cols: []column{idCol("ClientParameterID"), idCol("ClientID"), strCol("Value", 0), strCol("Color", 0)}},
		{name: "Specialist", key: []string{"SpecialistID"},
			cols: []column{idCol("SpecialistID"), createdCol("CreatedAt"), deletedCol(), decCol("Login"),
				strCol("Name", 20), strCol("Surname", 20), strCol("SecondaryName", 20), dateCol("Birthday"),
				strCol("Post", 50), idCol("DepartmentID"), strCol("Phone", 320), strCol("EMail", 0)}},
		{name: "Department", key: []string{"DepartmentID"},
			cols: []column{idCol("DepartmentID"), strCol("Name", 100), deletedCol()}},
		{name: "Competence", key: []string{"SpecialistID", "ServiceID"},
			cols: []column{idCol("SpecialistID"), idCol("ServiceID"), decCol("Priority"), deletedCol()}},
		{name: "ServiceLineKind", key: []string{"ServiceLineKindID"}, open: true,
			cols: []column{idCol("ServiceLineKindID"), strCol("Name", 100), deletedCol()}},
		// The recorded UserServiceLineRead lists no Deleted column, but
		// the wiki says every change-tracked read answers deleted objects
		// with Deleted=true: it follows the recorded five.
		{name: "UserServiceLine", key: []string{"ServiceUserID", "ServiceID"},
			cols: []column{idCol("ServiceUserID"), idCol("ServiceID"), createdCol("CreateTime"),
				timeCol("ActivateDate"), timeCol("ExpiresDate"), deletedCol()}},
		{name: "ServiceKind", key: []string{"ServiceKindID"}, open: true,
			cols: []column{idCol("ServiceKindID"), strCol("Name", 100), deletedCol()}},
		{name: "ServiceRequestType", key: []string{"ServiceRequestTypeID"}, open: true,
			cols: []column{idCol("ServiceRequestTypeID"), strCol("Name", 100), deletedCol()}},
		{name: "ServiceRequest", key: []string{"ServiceRequestID"}, open: true,
			cols: []column{idCol("ServiceRequestID"), createdCol("CreatedAt"),
				idCol("ServiceRequestChannelID"), idCol("ServiceLineKindID"), idCol("ServiceKindID"),
				idCol("ServiceRequestTypeID"), idCol("UserID"), idCol("ExecutorID"), idCol("ServiceRequestStatusID"),
				strCol("Description", 8000), decCol("Duration"), strCol("Summary", 1000), strCol("Priority", 0),
				strCol("Deadline", 1000), strCol("Field1", 1000), strCol("Field2", 1000), strCol("Field3", 1000),
				strCol("Field4", 1000), strCol("Field5", 1000)}},
		// Messages and files of a service request, listed by the plain
		// operations ServiceRequestMessages and ServiceRequestFiles.
		{name: "ServiceRequestMessage", key: []string{"MessageID"},
			cols: []column{idCol("MessageID"), idCol("AuthorID"), strCol("Message", 0), createdCol("CreateTime")}},
		{name: "ServiceRequestFile", key: []string{"FileID"},
			cols: []column{idCol("FileID"), idCol("AuthorID"), strCol("Name", 0), strCol("Hash", 0),
				sizeCol(), createdCol("CreateTime")}},
		{name: "PartnerNotification", key: []string{"PartnerNotificationID"}, open: true,
			cols: []column{idCol("PartnerNotificationID"), createdCol("CreatedAt")}},
		// Reference lists, filled at start with the emulator's own rows.
		{name: "Region", key: []string{"RegionID"},
			cols: []column{idCol("RegionID"), strCol("RegionName", 50)}},
		{name: "ServiceRequestChannel", key: []string{"ServiceRequestChannelID"},
			cols: []column{idCol("ServiceRequestChannelID"), strCol("Name", 50)}},
		{name: "ServiceRequestStatus", key: []string{"ServiceRequestStatusID"},
			cols: []column{idCol("ServiceRequestStatusID"), strCol("Name", 50)}},
	}
	m := make(map[string]*kind, len(list))
	for _, k := range list {
		m[k.name] = k
	}
	return m
}()

// sizeCol answers a file's size in bytes, from its base64 Data.
func sizeCol() column {
	c := decCol("Size")
	c.get = func(r *record) soap.Value {
		d := r.fields["Data"].Text
		n := len(d) / 4 * 3
		for i := len(d) - 1; i >= 0 && d[i] == '='; i-- {
			n--
		}
		return soap.Int(int64(max(n, 0)))
	}
	return c
}

// referenceRows are the emulator's own reference data: a handful of
// regions, request channels and statuses with fixed ids, so that tests
// and demos can refer to them. They are not the service's data.
var referenceRows = map[string][][2]string{
	"Region": {
		{"7e3a0001-0000-4000-a000-000000000001", "Москва"},
		{"7e3a0001-0000-4000-a000-000000000002", "Санкт-Петербург"},
		{"7e3a0001-0000-4000-a000-000000000003", "Московская область"},
		{"7e3a0001-0000-4000-a000-000000000004", "Новосибирская область"},
		{"7e3a0001-0000-4000-a000-000000000005", "Республика Татарстан"},
		{"7e3a0001-0000-4000-a000-000000000006", "Казахстан"},
	},
	"ServiceRequestChannel": {
		{"7e3a0002-0000-4000-a000-000000000001", "Телефон"},
		{"7e3a0002-0000-4000-a000-000000000002", "Электронная почта"},
		{"7e3a0002-0000-4000-a000-000000000003", "Чат"},
		{"7e3a0002-0000-4000-a000-000000000004", "Личный кабинет"},
	},
	"ServiceRequestStatus": {
		{"7e3a0003-0000-4000-a000-000000000001", "Новая"},
		{"7e3a0003-0000-4000-a000-000000000002", "В работе"},
		{"7e3a0003-0000-4000-a000-000000000003", "Ожидает ответа"},
		{"7e3a0003-0000-4000-a000-000000000004", "Выполнена"},
		{"7e3a0003-0000-4000-a000-000000000005", "Закрыта"},
	},
}

// opColumns are the columns of the reads the emulator answers with an
// empty table because it keeps no such data (the storefront, opened
// treatments; the reads of a period answer their generated history:
// history.go). GetOpenedServiceTreatments' columns are recorded; the
// others are plausible. An operation missing here gets fallbackColumns.
var opColumns = map[string][]column{
	"GetOpenedServiceTreatments": {idCol("ServiceTreatmentID"), idCol("ClientID"), idCol("ServiceUserID"),
		idCol("ServiceID"), timeCol("Initialized"), timeCol("SpecAppointed"), decCol("QueueWaitingTime"),
		idCol("CurrentSpecialist"), timeCol("ReactionStarted"), decCol("QueueLength")},
	"ClientITSStatus":                 {idCol("ClientID"), strCol("Status", 0), dateCol("ExpiresDate")},
	"ServiceRequestHistory":           {idCol("ServiceRequestID"), timeCol("Date"), idCol("AuthorID"), anyCol("Event")},
	"StartPictureRead":                {idCol("StartPictureID"), strCol("Name", 0), decCol("Shows"), decCol("Clicks")},
	"StorefrontProductsRead":          {idCol("ProductID"), strCol("Name", 0), decCol("Shows"), decCol("Clicks")},
	"StorefrontProductBuyRequestsGet": {idCol("BuyRequestID"), idCol("ProductID"), idCol("ServiceUserID"), timeCol("Date"), strCol("Status", 0)},
}

// fallbackColumns are the columns of a history read not in opColumns: the
// event's id, its period and who took part.
func fallbackColumns(object string) []column {
	return []column{idCol(object + "ID"), idCol("ClientID"), idCol("ServiceUserID"), idCol("SpecialistID"),
		timeCol("Start"), timeCol("End")}
}
