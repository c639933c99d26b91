package catalog

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestTableInvariants checks every entry against the invariants the
// package doc promises and the batcher and quota rely on.
func TestTableInvariants(t *testing.T) {
	t.Parallel()

	all := All()
	require.Len(t, all, 87)
	require.True(t, slices.IsSortedFunc(all, func(a, b *Operation) int { return strings.Compare(a.Name, b.Name) }),
		"the table must be sorted by name: Lookup bisects it")

	plain := 0
	for i, op := range all {
		if i > 0 {
			require.NotEqual(t, all[i-1].Name, op.Name, "duplicate operation")
		}
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()

			got, ok := Lookup(op.Name)
			require.True(t, ok)
			require.True(t, soap.ValidName(op.Name))
			require.Regexp(t, `^[A-Za-z][A-Za-z0-9]*$`, op.Name)
			require.Same(t, op, got, "Lookup and All share the table")

			require.NotContains(t, op.Kind.String(), "Kind(", "Kind set")
			require.NotContains(t, op.LimitSource.String(), "Source(", "LimitSource set")
			require.NotEmpty(t, op.Object)
			require.Positive(t, op.DayLimit)
			require.Positive(t, op.NightLimit)
			require.Equal(t, op.DayLimit, op.Limit(false))
			require.Equal(t, op.NightLimit, op.Limit(true))
			if op.Kind == BatchWrite {
				require.Positive(t, op.MaxRows)
				require.LessOrEqual(t, op.MaxRows, 100)
			} else {
				require.Equal(t, 1, op.MaxRows, "only packets carry more than one object")
			}

			seen := map[string]bool{}
			for _, p := range op.Params {
				require.True(t, soap.ValidName(p.Name), "param %q", p.Name)
				// Element names (plain children, operations) must read back
				// through encoding/xml's older name tables: ASCII does.
				require.Regexp(t, `^[A-Za-z_][A-Za-z0-9_]*$`, p.Name)
				// Every secret of the table is marked: passwords.
				require.Equal(t, strings.Contains(strings.ToLower(p.Name), "password"), p.Secret, "param %s: Secret", p.Name)
				require.Equal(t, p.Secret, op.IsSecret(p.Name))
				if p.Secret {
					require.Equal(t, soap.KindString, p.Type)
				}
				require.False(t, seen[p.Name], "duplicate param %q", p.Name)
				seen[p.Name] = true
				require.Contains(t, []soap.Kind{soap.KindString, soap.KindDecimal, soap.KindBoolean,
					soap.KindDateTime, soap.KindDate, soap.KindBinary}, p.Type, "param %s", p.Name)
				if p.ID || p.MaxLen > 0 {
					require.Equal(t, soap.KindString, p.Type, "ids and lengths are for strings: %s", p.Name)
				}
			}
			for _, k := range op.Key {
				p, ok := op.Param(k)
				require.True(t, ok, "key %s must be a param", k)
				require.True(t, p.Required, "key %s must be required", k)
			}
			if op.Kind == Plain {
				require.True(t, op.ParamsKnown, "plain children are all in the WSDL")
				for _, p := range op.Params {
					require.True(t, p.Required, "plain child %s", p.Name)
				}
			}
			if op.Kind == ChangeRead {
				p, ok := op.Param("ChangedFrom")
				require.True(t, ok, "a ChangeRead takes ChangedFrom")
				require.Equal(t, soap.KindDateTime, p.Type)
			}

			// Repeatable follows the verb: reads, edits and deletes may be
			// sent again, adds and sends may not.
			switch {
			case op.Kind == ChangeRead || op.Kind == Read || op.Kind == PeriodRead:
				require.True(t, op.Repeatable)
				require.Nil(t, op.Key, "reads need no ordering")
			case strings.HasSuffix(op.Name, "Edit"), strings.HasSuffix(op.Name, "Delete"),
				strings.HasSuffix(op.Name, "EditTextMessage"), strings.HasSuffix(op.Name, "DeleteTextMessage"),
				strings.HasSuffix(op.Name, "DeleteFile"):
				require.True(t, op.Repeatable)
			case strings.HasSuffix(op.Name, "Add"), strings.Contains(op.Name, "Send"),
				strings.HasSuffix(op.Name, "AttachFile"):
				require.False(t, op.Repeatable)
			}
			require.True(t, strings.HasPrefix(op.SOAPAction(), "http://buhphone.com/PartnerWebAPI2#PartnerWebAPI2:"))
		})
		if op.Kind == Plain {
			plain++
		}
	}
	require.Equal(t, 8, plain, "8 operations take plain children")
}

// TestLimits asserts the limits the notes' table gives, exactly.
func TestLimits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name             string
		day, night, rows int
		source           Source
	}{
		{name: "ClientRead", day: 250, night: 1250, rows: 1, source: Confirmed},
		{name: "ClientUserEdit", day: 250, night: 1250, rows: 100, source: Confirmed},
		{name: "CompetenceAdd", day: 250, night: 1250, rows: 100, source: Confirmed},
		{name: "UserServiceLineRead", day: 250, night: 1250, rows: 1, source: Confirmed},
		{name: "ServiceRequestAdd", day: 50, night: 250, rows: 100, source: Confirmed},
		{name: "ServiceKindDelete", day: 50, night: 50, rows: 50, source: Confirmed},
		{name: "ServiceRequestTypeDelete", day: 50, night: 50, rows: 100, source: Confirmed},
		{name: "ServiceRequestRead", day: 120, night: 600, rows: 1, source: ThirdParty},
		{name: "ServiceRequestHistory", day: 50, night: 50, rows: 1, source: ThirdParty},
		{name: "GetHistoryOfColleaguesChat", day: 100, night: 100, rows: 1, source: ThirdParty},
		// The operation pages of the two history reads.
		{name: "GetHistoryOfServiceCalls", day: 10, night: 50, rows: 1, source: Confirmed},
		{name: "GetHistoryOfServiceTreatments", day: 10, night: 50, rows: 1, source: Confirmed},
		// Inferred: the directory day limit at all hours, 50/h for the
		// service desk.
		{name: "ClientUserAdd", day: 250, night: 250, rows: 100, source: Inferred},
		{name: "DepartmentRead", day: 250, night: 250, rows: 1, source: Inferred},
		{name: "ServiceRequestEdit", day: 50, night: 50, rows: 100, source: Inferred},
		// The other history reads: the confirmed two's day limit, at all
		// hours.
		{name: "GetHistoryOfSIPCalls", day: 10, night: 10, rows: 1, source: Inferred},
		{name: "GetHistoryOfServiceCallsComments", day: 10, night: 10, rows: 1, source: Inferred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, ok := Lookup(tt.name)
			require.True(t, ok)
			require.Equal(t, tt.day, op.DayLimit, "day")
			require.Equal(t, tt.night, op.NightLimit, "night")
			require.Equal(t, tt.rows, op.MaxRows, "rows")
			require.Equal(t, tt.source, op.LimitSource)
		})
	}
}

// TestConfirmedLimitsOnly checks that 1250 at night appears only where the
// notes confirm it: an inferred limit never raises the night above the day.
func TestConfirmedLimitsOnly(t *testing.T) {
	t.Parallel()
	for _, op := range All() {
		if op.LimitSource == Inferred {
			require.Equal(t, op.DayLimit, op.NightLimit, op.Name)
		}
	}
}

// TestKindsAndKeys pins the assignments the batcher depends on.
func TestKindsAndKeys(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		kind   Kind
		object string
		key    []string
	}{
		{name: "ClientAdd", kind: BatchWrite, object: "Client"},
		{name: "ClientEdit", kind: BatchWrite, object: "Client", key: []string{"ClientID"}},
		{name: "ClientUserEdit", kind: BatchWrite, object: "ClientUser", key: []string{"ClientUserID"}},
		{name: "ClientAdditionalParameterValueEdit", kind: BatchWrite, object: "ClientAdditionalParameterValue",
			key: []string{"ClientParameterID", "ClientID"}},
		{name: "CompetenceAdd", kind: BatchWrite, object: "Competence", key: []string{"SpecialistID", "ServiceID"}},
		{name: "ServiceRequestAdd", kind: BatchWrite, object: "ServiceRequest"},
		{name: "ServiceRequestEdit", kind: BatchWrite, object: "ServiceRequest", key: []string{"ServiceRequestID"}},
		{name: "ServiceKindDelete", kind: BatchWrite, object: "ServiceKind", key: []string{"ServiceKindID"}},
		{name: "ClientSetClientManager", kind: SingleWrite, object: "Client", key: []string{"ClientID"}},
		{name: "ClientUserSendWelcomeEmail", kind: SingleWrite, object: "ClientUser", key: []string{"ClientUserID"}},
		{name: "PartnerNotificationAdd", kind: SingleWrite, object: "PartnerNotification"},
		{name: "StorefrontProductBuyRequestAccept", kind: SingleWrite, object: "StorefrontProductBuyRequest"},
		{name: "ClientRead", kind: ChangeRead, object: "Client"},
		{name: "UserServiceLineRead", kind: ChangeRead, object: "UserServiceLine"},
		{name: "RegionRead", kind: Read, object: "Region"},
		{name: "ServiceRequestRead", kind: Read, object: "ServiceRequest"},
		{name: "ClientITSStatus", kind: Read, object: "Client"},
		{name: "GetOpenedServiceTreatments", kind: PeriodRead, object: "ServiceTreatment"},
		{name: "ServiceRequestHistory", kind: PeriodRead, object: "ServiceRequest"},
		{name: "ServiceRequestSendTextMessage", kind: Plain, object: "ServiceRequest", key: []string{"ServiceRequestID"}},
		{name: "ServiceRequestDownloadFile", kind: Plain, object: "ServiceRequestFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, ok := Lookup(tt.name)
			require.True(t, ok)
			require.Equal(t, tt.kind, op.Kind)
			require.Equal(t, tt.object, op.Object)
			require.Equal(t, tt.key, op.Key)
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "clientread", "ClientReadX", "Zzz", "AAA"} {
		op, ok := Lookup(name)
		require.False(t, ok, name)
		require.Nil(t, op)
	}
}

func TestStrings(t *testing.T) {
	t.Parallel()
	require.Equal(t, "BatchWrite", BatchWrite.String())
	require.Equal(t, "Plain", Plain.String())
	require.Equal(t, "Kind(0)", Kind(0).String())
	require.Equal(t, "confirmed", Confirmed.String())
	require.Equal(t, "third-party", ThirdParty.String())
	require.Equal(t, "inferred", Inferred.String())
	require.Equal(t, "Source(9)", Source(9).String())
}

func TestNames(t *testing.T) {
	t.Parallel()
	names := Names()
	require.Len(t, names, 87)
	for i, op := range All() {
		require.Equal(t, op.Name, names[i], "Names lists All's operations in its order")
	}
	names[0] = "changed"
	require.NotEqual(t, "changed", Names()[0], "the slice is the caller's")
}
