package catalog

import "github.com/onec-connect/connect-bridge/internal/soap"

// The limit pattern of the API notes. A confirmed directory operation may
// be called 250 times an hour by day and 1250 at night with up to 100
// objects per packet; service-desk writes 50 times an hour. Where a limit
// is not confirmed the day limit is used at night too, and the entry is
// marked Inferred.
const (
	directoryDay   = 250 // directory objects by day
	directoryNight = 1250
	serviceDesk    = 50  // service-desk writes and reads, statistics
	historyDay     = 10  // history reads by day
	historyNight   = 50  // history reads at night, where confirmed
	packetRows     = 100 // objects per BatchWrite packet unless confirmed otherwise
)

// operations is the catalogue: all 87 operations of PartnerWebAPI2, sorted
// by name (Lookup searches it by bisection; a test checks the order and
// the set against the WSDL). Every name is confirmed by the WSDL. The
// other facts come from API-NOTES.md; each group says where.
//
// Decisions where the notes are silent:
//   - A key field is <Object>ID, the naming the confirmed operations use
//     (ClientUserID, DepartmentID, ServiceKindID, ServiceRequestTypeID…,
//     and ServiceRequestAdd's ServiceLineKindID, ServiceRequestChannelID).
//   - Associations (competences, user service lines, parameter values)
//     are keyed by the pair they join, their Adds included, so that an
//     Add and a later Delete of the same pair stay in order.
//   - Objects a reader syncs by change time (the overview's list: staff,
//     clients, client users, lines, competences, line connections, plus
//     client departments beside departments) are ChangeRead; settings and
//     reference lists are Read. ChangedFrom is Confirmed for the five
//     reads the wiki documents it on (ClientRead, ClientUserRead,
//     SpecialistRead, DepartmentRead, UserServiceLineRead) and Inferred
//     for the other three (ClientDepartmentRead, CompetenceRead,
//     ServiceLineKindRead).
//   - A change-tracked read's IDColumns are the key of the object's
//     Delete (a test holds them to it): recorded as columns for
//     DepartmentRead, SpecialistRead and UserServiceLineRead, the <Object>ID
//     naming (and the pair of an association) for the others.
//   - Unknown limits: 250/h at all hours for directory and reference
//     operations, 10/h for history reads (the confirmed two's day
//     limit), 50/h for everything else of the service desk, statistics,
//     storefront and mailings.
//   - Ids of service requests, their messages and files are not
//     validated as UUIDs: their form is not recorded.
var operations = [...]Operation{
	// Clients. ClientRead's limit and ChangedFrom are confirmed by the
	// wiki; the rest follows the directory pattern. ClientSetClientManager
	// and ClientSetServiceManager set a value: repeating one is harmless.
	{Name: "ClientAdd", Kind: BatchWrite, Object: "Client",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	// Client parameters: ClientAdditionalParameterValueEdit's columns are
	// the overview's example packet (ClientParameterID, ClientID, Value,
	// Color); ValueRead's result columns are recorded.
	{Name: "ClientAdditionalParameterAdd", Kind: BatchWrite, Object: "ClientAdditionalParameter",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ClientAdditionalParameterDelete", Kind: BatchWrite, Object: "ClientAdditionalParameter",
		Key:      []string{"ClientParameterID"},
		Params:   []Param{{Name: "ClientParameterID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientAdditionalParameterEdit", Kind: BatchWrite, Object: "ClientAdditionalParameter",
		Key:      []string{"ClientParameterID"},
		Params:   []Param{{Name: "ClientParameterID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientAdditionalParameterRead", Kind: Read, Object: "ClientAdditionalParameter",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ClientAdditionalParameterValueEdit", Kind: BatchWrite, Object: "ClientAdditionalParameterValue",
		Key: []string{"ClientParameterID", "ClientID"},
		Params: []Param{
			{Name: "ClientParameterID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ClientID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Value", Type: soap.KindString},
			{Name: "Color", Type: soap.KindString}, // RED, BLUE…
		},
		ParamsKnown: true,
		DayLimit:    directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientAdditionalParameterValueRead", Kind: Read, Object: "ClientAdditionalParameterValue",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true,
		Results: []string{"ClientParameterID", "ClientID", "Value", "Color"}},
	{Name: "ClientDelete", Kind: BatchWrite, Object: "Client",
		Key:      []string{"ClientID"},
		Params:   []Param{{Name: "ClientID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	// Client departments: ClientDepartmentDelete's parameters are
	// confirmed. A department id is unique on its own, so it is the key;
	// the client is a required parameter of Delete only. Deleting twice is
	// an error on the service's side, not a second effect: Delete stays
	// repeatable.
	{Name: "ClientDepartmentAdd", Kind: BatchWrite, Object: "ClientDepartment",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ClientDepartmentDelete", Kind: BatchWrite, Object: "ClientDepartment",
		Key: []string{"DepartmentID"},
		Params: []Param{
			{Name: "ClientID", Type: soap.KindString, Required: true, ID: true},
			{Name: "DepartmentID", Type: soap.KindString, Required: true, ID: true},
		},
		ParamsKnown: true,
		DayLimit:    directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientDepartmentEdit", Kind: BatchWrite, Object: "ClientDepartment",
		Key:      []string{"DepartmentID"},
		Params:   []Param{{Name: "DepartmentID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientDepartmentRead", Kind: ChangeRead, Object: "ClientDepartment",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Inferred, IDColumns: []string{"DepartmentID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ClientEdit", Kind: BatchWrite, Object: "Client",
		Key:      []string{"ClientID"},
		Params:   []Param{{Name: "ClientID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientITSStatus", Kind: Read, Object: "Client",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ClientRead", Kind: ChangeRead, Object: "Client",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Confirmed, IDColumns: []string{"ClientID"},
		DayLimit: directoryDay, NightLimit: directoryNight, LimitSource: Confirmed, MaxRows: 1, Repeatable: true},
	{Name: "ClientSetClientManager", Kind: SingleWrite, Object: "Client",
		Key:      []string{"ClientID"},
		Params:   []Param{{Name: "ClientID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ClientSetServiceManager", Kind: SingleWrite, Object: "Client",
		Key:      []string{"ClientID"},
		Params:   []Param{{Name: "ClientID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Client users: ClientUserEdit's parameters and limits are confirmed by
	// the wiki (bold = Required), as are ClientUserRead's ChangedFrom and
	// ClientID filter.
	{Name: "ClientUserAdd", Kind: BatchWrite, Object: "ClientUser",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ClientUserDelete", Kind: BatchWrite, Object: "ClientUser",
		Key:      []string{"ClientUserID"},
		Params:   []Param{{Name: "ClientUserID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientUserEdit", Kind: BatchWrite, Object: "ClientUser",
		Key: []string{"ClientUserID"},
		Params: []Param{
			{Name: "ClientUserID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Name", Type: soap.KindString, MaxLen: 20, Required: true},
			{Name: "Surname", Type: soap.KindString, MaxLen: 20},
			{Name: "SecondaryName", Type: soap.KindString, MaxLen: 20},
			{Name: "Password", Type: soap.KindString, MaxLen: 10, Required: true, Secret: true},
			{Name: "Birthday", Type: soap.KindDate},
			{Name: "Post", Type: soap.KindString, MaxLen: 50},
			{Name: "DepartmentID", Type: soap.KindString, ID: true},
			{Name: "Phone", Type: soap.KindString, MaxLen: 320, Required: true}, // several, comma-separated
			{Name: "EMail", Type: soap.KindString, Required: true},              // one address
		},
		ParamsKnown: true,
		DayLimit:    directoryDay, NightLimit: directoryNight, LimitSource: Confirmed, MaxRows: packetRows, Repeatable: true},
	{Name: "ClientUserRead", Kind: ChangeRead, Object: "ClientUser",
		Params: []Param{
			{Name: "ChangedFrom", Type: soap.KindDateTime},
			{Name: "ClientID", Type: soap.KindString, ID: true},
		},
		ChangedFrom: Confirmed, IDColumns: []string{"ClientUserID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ClientUserSendWelcomeEmail", Kind: SingleWrite, Object: "ClientUser",
		Key:      []string{"ClientUserID"},
		Params:   []Param{{Name: "ClientUserID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1},
	// Competences: CompetenceAdd's parameters and limits are confirmed
	// (Priority 0 observer, 1 high, 2 medium, 3 standard). A competence
	// joins a specialist and a line (ServiceID), so the pair is its key.
	{Name: "CompetenceAdd", Kind: BatchWrite, Object: "Competence",
		Key: []string{"SpecialistID", "ServiceID"},
		Params: []Param{
			{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Priority", Type: soap.KindDecimal},
		},
		ParamsKnown: true,
		DayLimit:    directoryDay, NightLimit: directoryNight, LimitSource: Confirmed, MaxRows: packetRows},
	{Name: "CompetenceDelete", Kind: BatchWrite, Object: "Competence",
		Key: []string{"SpecialistID", "ServiceID"},
		Params: []Param{
			{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "CompetenceEdit", Kind: BatchWrite, Object: "Competence",
		Key: []string{"SpecialistID", "ServiceID"},
		Params: []Param{
			{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Priority", Type: soap.KindDecimal},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "CompetenceRead", Kind: ChangeRead, Object: "Competence",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Inferred, IDColumns: []string{"SpecialistID", "ServiceID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Departments of the own organisation: parameters from third-party
	// code; DepartmentRead's ChangedFrom is confirmed and its columns are
	// recorded, Name with a length of 100.
	{Name: "DepartmentAdd", Kind: BatchWrite, Object: "Department",
		Params:   []Param{{Name: "Name", Type: soap.KindString, MaxLen: 100}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "DepartmentDelete", Kind: BatchWrite, Object: "Department",
		Key:      []string{"DepartmentID"},
		Params:   []Param{{Name: "DepartmentID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "DepartmentEdit", Kind: BatchWrite, Object: "Department",
		Key: []string{"DepartmentID"},
		Params: []Param{
			{Name: "DepartmentID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Name", Type: soap.KindString, MaxLen: 100},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "DepartmentRead", Kind: ChangeRead, Object: "Department",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Confirmed, IDColumns: []string{"DepartmentID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true,
		Results: []string{"DepartmentID", "Name", "Deleted"}},
	// History and statistics: PeriodFrom/PeriodTo come from third-party
	// code; GetOpenedServiceTreatments' parameters and columns are
	// recorded; GetHistoryOfColleaguesChat's limit (100/h) is third-party.
	// GetHistoryOfServiceCalls' and GetHistoryOfServiceTreatments' limits
	// (10/h by day, 50 at night) are confirmed by their operation pages;
	// the other history reads follow them by day (the notes' pattern) and
	// keep the day limit at night, the rule for what is not confirmed.
	// Statistics use the conservative 50/h at all hours. The periods these
	// reads take, and their bounds, are in period.go.
	{Name: "GetClientUsageStatistics", Kind: PeriodRead, Object: "ClientUsageStatistics",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfAgentSessions", Kind: PeriodRead, Object: "AgentSession",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfColleaguesChat", Kind: PeriodRead, Object: "ColleaguesChat",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: 100, NightLimit: 100, LimitSource: ThirdParty, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfSIPCalls", Kind: PeriodRead, Object: "SIPCall",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceCalls", Kind: PeriodRead, Object: "ServiceCall",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyNight, LimitSource: Confirmed, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceCallsComments", Kind: PeriodRead, Object: "ServiceCallComment",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceChat", Kind: PeriodRead, Object: "ServiceChat",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceFileTransfer", Kind: PeriodRead, Object: "ServiceFileTransfer",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceRASessions", Kind: PeriodRead, Object: "ServiceRASession",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceRASessionsComments", Kind: PeriodRead, Object: "ServiceRASessionComment",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceTreatments", Kind: PeriodRead, Object: "ServiceTreatment",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyNight, LimitSource: Confirmed, MaxRows: 1, Repeatable: true},
	{Name: "GetHistoryOfServiceTreatmentsComments", Kind: PeriodRead, Object: "ServiceTreatmentComment",
		Params: []Param{
			{Name: "PeriodFrom", Type: soap.KindDateTime},
			{Name: "PeriodTo", Type: soap.KindDateTime},
		},
		DayLimit: historyDay, NightLimit: historyDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "GetOpenedServiceTreatments", Kind: PeriodRead, Object: "ServiceTreatment",
		Params: []Param{
			{Name: "OpenedFrom", Type: soap.KindDate, Required: true},
			{Name: "OpenedTo", Type: soap.KindDate},
			{Name: "ClientID", Type: soap.KindString, ID: true},
			{Name: "ServiceUserID", Type: soap.KindString, ID: true},
			{Name: "ServiceID", Type: soap.KindString, ID: true},
			{Name: "SpecialistID", Type: soap.KindString, ID: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true,
		Results: []string{"ServiceTreatmentID", "ClientID", "ServiceUserID", "ServiceID", "Initialized",
			"SpecAppointed", "QueueWaitingTime", "CurrentSpecialist", "ReactionStarted", "QueueLength"}},
	// Mailings: nothing published beyond the name. Sending a notification
	// twice notifies twice: not repeatable.
	{Name: "PartnerNotificationAdd", Kind: SingleWrite, Object: "PartnerNotification",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1},
	// Reference data: RegionRead's columns are recorded, and its recorded
	// request has an empty Params.
	{Name: "RegionRead", Kind: Read, Object: "Region",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true,
		Results: []string{"RegionID", "RegionName"}},
	// Service kinds: ServiceKindDelete's parameter and limits (50/50, 50
	// per packet) are confirmed; the other writes keep 50/h but the
	// default packet of 100.
	{Name: "ServiceKindAdd", Kind: BatchWrite, Object: "ServiceKind",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ServiceKindDelete", Kind: BatchWrite, Object: "ServiceKind",
		Key:         []string{"ServiceKindID"},
		Params:      []Param{{Name: "ServiceKindID", Type: soap.KindString, Required: true, ID: true}},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Confirmed, MaxRows: 50, Repeatable: true},
	{Name: "ServiceKindEdit", Kind: BatchWrite, Object: "ServiceKind",
		Key:      []string{"ServiceKindID"},
		Params:   []Param{{Name: "ServiceKindID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceKindRead", Kind: Read, Object: "ServiceKind",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Support lines: the key ServiceLineKindID is inferred from
	// ServiceRequestAdd's parameter of that name (competences and line
	// connections call the same line ServiceID).
	{Name: "ServiceLineKindAdd", Kind: BatchWrite, Object: "ServiceLineKind",
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ServiceLineKindDelete", Kind: BatchWrite, Object: "ServiceLineKind",
		Key:      []string{"ServiceLineKindID"},
		Params:   []Param{{Name: "ServiceLineKindID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceLineKindEdit", Kind: BatchWrite, Object: "ServiceLineKind",
		Key:      []string{"ServiceLineKindID"},
		Params:   []Param{{Name: "ServiceLineKindID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceLineKindRead", Kind: ChangeRead, Object: "ServiceLineKind",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Inferred, IDColumns: []string{"ServiceLineKindID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Service requests: ServiceRequestAdd's parameters and limits are
	// confirmed (100 per packet, so it is batched, and so is Edit).
	// ServiceRequestRead's and ServiceRequestHistory's limits are
	// third-party (History reads up to 550 ids per call, in its own
	// parameters: it is not a packet). The 8 plain operations' children
	// are the WSDL's, all required; Data is base64. Chat messages and
	// attachments of one request keep their order (Key ServiceRequestID).
	{Name: "ServiceRequestAdd", Kind: BatchWrite, Object: "ServiceRequest",
		Params: []Param{
			{Name: "ServiceRequestChannelID", Type: soap.KindString, ID: true},
			{Name: "ServiceLineKindID", Type: soap.KindString, ID: true},
			{Name: "ServiceKindID", Type: soap.KindString, ID: true},
			{Name: "ServiceRequestTypeID", Type: soap.KindString, ID: true},
			{Name: "UserID", Type: soap.KindString, ID: true},
			{Name: "ExecutorID", Type: soap.KindString, ID: true},
			{Name: "ServiceRequestStatusID", Type: soap.KindString, ID: true},
			{Name: "Description", Type: soap.KindString, MaxLen: 8000},
			{Name: "Duration", Type: soap.KindDecimal}, // seconds
			{Name: "Summary", Type: soap.KindString, MaxLen: 1000},
			{Name: "Priority", Type: soap.KindString}, // LOW, STANDARD, HIGH
			{Name: "Deadline", Type: soap.KindString, MaxLen: 1000},
			{Name: "Field1", Type: soap.KindString, MaxLen: 1000},
			{Name: "Field2", Type: soap.KindString, MaxLen: 1000},
			{Name: "Field3", Type: soap.KindString, MaxLen: 1000},
			{Name: "Field4", Type: soap.KindString, MaxLen: 1000},
			{Name: "Field5", Type: soap.KindString, MaxLen: 1000},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: 250, LimitSource: Confirmed, MaxRows: packetRows},
	{Name: "ServiceRequestAttachFile", Kind: Plain, Object: "ServiceRequest",
		Key: []string{"ServiceRequestID"},
		Params: []Param{
			{Name: "ServiceRequestID", Type: soap.KindString, Required: true},
			{Name: "AuthorID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Name", Type: soap.KindString, Required: true},
			{Name: "Hash", Type: soap.KindString, Required: true},
			{Name: "Data", Type: soap.KindBinary, Required: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1},
	{Name: "ServiceRequestChannelRead", Kind: Read, Object: "ServiceRequestChannel",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestDeleteFile", Kind: Plain, Object: "ServiceRequestFile",
		Key: []string{"FileID"},
		Params: []Param{
			{Name: "FileID", Type: soap.KindString, Required: true},
			{Name: "AuthorID", Type: soap.KindString, Required: true, ID: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestDeleteTextMessage", Kind: Plain, Object: "ServiceRequest",
		Key: []string{"ServiceRequestID"},
		Params: []Param{
			{Name: "ServiceRequestID", Type: soap.KindString, Required: true},
			{Name: "MessageID", Type: soap.KindString, Required: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestDownloadFile", Kind: Plain, Object: "ServiceRequestFile",
		Params:      []Param{{Name: "FileID", Type: soap.KindString, Required: true}},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestEdit", Kind: BatchWrite, Object: "ServiceRequest",
		Key:      []string{"ServiceRequestID"},
		Params:   []Param{{Name: "ServiceRequestID", Type: soap.KindString, Required: true}},
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceRequestEditTextMessage", Kind: Plain, Object: "ServiceRequest",
		Key: []string{"ServiceRequestID"},
		Params: []Param{
			{Name: "ServiceRequestID", Type: soap.KindString, Required: true},
			{Name: "MessageID", Type: soap.KindString, Required: true},
			{Name: "Message", Type: soap.KindString, Required: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestFiles", Kind: Plain, Object: "ServiceRequest",
		Params:      []Param{{Name: "ServiceRequestID", Type: soap.KindString, Required: true}},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestHistory", Kind: PeriodRead, Object: "ServiceRequest",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: ThirdParty, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestMessages", Kind: Plain, Object: "ServiceRequest",
		Params:      []Param{{Name: "ServiceRequestID", Type: soap.KindString, Required: true}},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestRead", Kind: Read, Object: "ServiceRequest",
		DayLimit: 120, NightLimit: 600, LimitSource: ThirdParty, MaxRows: 1, Repeatable: true},
	{Name: "ServiceRequestSendTextMessage", Kind: Plain, Object: "ServiceRequest",
		Key: []string{"ServiceRequestID"},
		Params: []Param{
			{Name: "ServiceRequestID", Type: soap.KindString, Required: true},
			{Name: "AuthorID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Message", Type: soap.KindString, Required: true},
		},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1},
	{Name: "ServiceRequestStatusRead", Kind: Read, Object: "ServiceRequestStatus",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Service request types: ServiceRequestTypeDelete's parameter and
	// limits (50/50, 100 per packet) are confirmed.
	{Name: "ServiceRequestTypeAdd", Kind: BatchWrite, Object: "ServiceRequestType",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "ServiceRequestTypeDelete", Kind: BatchWrite, Object: "ServiceRequestType",
		Key:         []string{"ServiceRequestTypeID"},
		Params:      []Param{{Name: "ServiceRequestTypeID", Type: soap.KindString, Required: true, ID: true}},
		ParamsKnown: true,
		DayLimit:    serviceDesk, NightLimit: serviceDesk, LimitSource: Confirmed, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceRequestTypeEdit", Kind: BatchWrite, Object: "ServiceRequestType",
		Key:      []string{"ServiceRequestTypeID"},
		Params:   []Param{{Name: "ServiceRequestTypeID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "ServiceRequestTypeRead", Kind: Read, Object: "ServiceRequestType",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Specialists (staff of the own organisation): Add/Edit parameters
	// from third-party code, not complete, so other fields pass as given;
	// SpecialistRead's ChangedFrom is confirmed and its columns recorded.
	{Name: "SpecialistAdd", Kind: BatchWrite, Object: "Specialist",
		Params: []Param{
			{Name: "Name", Type: soap.KindString},
			{Name: "EMail", Type: soap.KindString},
			{Name: "Surname", Type: soap.KindString},
			{Name: "SecondaryName", Type: soap.KindString},
			{Name: "Password", Type: soap.KindString, Secret: true},
			{Name: "Birthday", Type: soap.KindDate},
			{Name: "Post", Type: soap.KindString},
			{Name: "DepartmentID", Type: soap.KindString, ID: true},
			{Name: "Phone", Type: soap.KindString},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "SpecialistDelete", Kind: BatchWrite, Object: "Specialist",
		Key:      []string{"SpecialistID"},
		Params:   []Param{{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "SpecialistEdit", Kind: BatchWrite, Object: "Specialist",
		Key: []string{"SpecialistID"},
		Params: []Param{
			{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true},
			{Name: "Name", Type: soap.KindString},
			{Name: "EMail", Type: soap.KindString},
			{Name: "Surname", Type: soap.KindString},
			{Name: "SecondaryName", Type: soap.KindString},
			{Name: "Password", Type: soap.KindString, Secret: true},
			{Name: "Birthday", Type: soap.KindDate},
			{Name: "Post", Type: soap.KindString},
			{Name: "DepartmentID", Type: soap.KindString, ID: true},
			{Name: "Phone", Type: soap.KindString},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "SpecialistRead", Kind: ChangeRead, Object: "Specialist",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Confirmed, IDColumns: []string{"SpecialistID"},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1, Repeatable: true,
		Results: []string{"SpecialistID", "CreatedAt", "Deleted", "Login", "Name", "Surname",
			"SecondaryName", "Birthday", "Post", "DepartmentID", "Phone", "EMail"}},
	{Name: "SpecialistSendWelcomeEmail", Kind: SingleWrite, Object: "Specialist",
		Key:      []string{"SpecialistID"},
		Params:   []Param{{Name: "SpecialistID", Type: soap.KindString, Required: true, ID: true}},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: 1},
	// Start pictures and the storefront: nothing published beyond the
	// names; statistics limits are conservative. Accepting or refusing a
	// buy request notifies the buyer and a repeat would be refused, so
	// neither is repeatable.
	{Name: "StartPictureClicksHistoryRead", Kind: PeriodRead, Object: "StartPicture",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "StartPictureRead", Kind: Read, Object: "StartPicture",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "StorefrontProductBuyRequestAccept", Kind: SingleWrite, Object: "StorefrontProductBuyRequest",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1},
	{Name: "StorefrontProductBuyRequestRefuse", Kind: SingleWrite, Object: "StorefrontProductBuyRequest",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1},
	{Name: "StorefrontProductBuyRequestsGet", Kind: Read, Object: "StorefrontProductBuyRequest",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "StorefrontProductClicksHistoryRead", Kind: PeriodRead, Object: "StorefrontProduct",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	{Name: "StorefrontProductsRead", Kind: Read, Object: "StorefrontProduct",
		DayLimit: serviceDesk, NightLimit: serviceDesk, LimitSource: Inferred, MaxRows: 1, Repeatable: true},
	// Line connections (a support line connected to a user): the limits
	// and ChangedFrom of UserServiceLineRead are confirmed and its columns
	// recorded; a connection joins ServiceUserID and ServiceID, its key.
	{Name: "UserServiceLineAdd", Kind: BatchWrite, Object: "UserServiceLine",
		Key: []string{"ServiceUserID", "ServiceID"},
		Params: []Param{
			{Name: "ServiceUserID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows},
	{Name: "UserServiceLineDelete", Kind: BatchWrite, Object: "UserServiceLine",
		Key: []string{"ServiceUserID", "ServiceID"},
		Params: []Param{
			{Name: "ServiceUserID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "UserServiceLineEdit", Kind: BatchWrite, Object: "UserServiceLine",
		Key: []string{"ServiceUserID", "ServiceID"},
		Params: []Param{
			{Name: "ServiceUserID", Type: soap.KindString, Required: true, ID: true},
			{Name: "ServiceID", Type: soap.KindString, Required: true, ID: true},
		},
		DayLimit: directoryDay, NightLimit: directoryDay, LimitSource: Inferred, MaxRows: packetRows, Repeatable: true},
	{Name: "UserServiceLineRead", Kind: ChangeRead, Object: "UserServiceLine",
		Params:      []Param{{Name: "ChangedFrom", Type: soap.KindDateTime}},
		ChangedFrom: Confirmed, IDColumns: []string{"ServiceUserID", "ServiceID"},
		DayLimit: directoryDay, NightLimit: directoryNight, LimitSource: Confirmed, MaxRows: 1, Repeatable: true,
		Results: []string{"ServiceUserID", "ServiceID", "CreateTime", "ActivateDate", "ExpiresDate"}},
}
