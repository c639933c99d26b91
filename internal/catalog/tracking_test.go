package catalog

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestChangeTracked pins which reads take ChangedFrom, how sure that is,
// the columns that identify their objects and their other filters.
func TestChangeTracked(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		source  Source
		ids     []string
		filters []string
	}{
		// The five the wiki documents ChangedFrom on.
		{name: "ClientRead", source: Confirmed, ids: []string{"ClientID"}},
		{name: "ClientUserRead", source: Confirmed, ids: []string{"ClientUserID"}, filters: []string{"ClientID"}},
		{name: "DepartmentRead", source: Confirmed, ids: []string{"DepartmentID"}},
		{name: "SpecialistRead", source: Confirmed, ids: []string{"SpecialistID"}},
		{name: "UserServiceLineRead", source: Confirmed, ids: []string{"ServiceUserID", "ServiceID"}},
		// The rest of the overview's synchronised objects.
		{name: "ClientDepartmentRead", source: Inferred, ids: []string{"DepartmentID"}},
		{name: "CompetenceRead", source: Inferred, ids: []string{"SpecialistID", "ServiceID"}},
		{name: "ServiceLineKindRead", source: Inferred, ids: []string{"ServiceLineKindID"}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, err := LookupChangeTracked(tt.name)
			require.NoError(t, err)
			src, ok := op.ChangeTracked()
			require.True(t, ok)
			require.Equal(t, tt.source, src)
			require.Equal(t, tt.ids, op.IDColumns)
			var filters []string
			for _, p := range op.ChangeFilters() {
				filters = append(filters, p.Name)
			}
			require.Equal(t, tt.filters, filters)
		})
	}
	var got []string
	for _, op := range ChangeTracked() {
		got = append(got, op.Name)
	}
	slices.Sort(names)
	require.Equal(t, names, got, "ChangeTracked lists exactly these, by name")
}

// TestChangeTrackedInvariants holds every operation to the package doc's
// rules of change tracking.
func TestChangeTrackedInvariants(t *testing.T) {
	t.Parallel()
	for _, op := range All() {
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()
			src, ok := op.ChangeTracked()
			require.Equal(t, op.Kind == ChangeRead, ok, "exactly the ChangeReads are change-tracked")
			if !ok {
				require.Zero(t, src)
				require.Nil(t, op.IDColumns, "id columns are for change-tracked reads")
				require.Nil(t, op.ChangeFilters())
				_, err := LookupChangeTracked(op.Name)
				require.ErrorIs(t, err, ErrNotChangeTracked)
				return
			}
			require.Contains(t, []Source{Confirmed, Inferred}, src)
			p, ok := op.Param(ParamChangedFrom)
			require.True(t, ok)
			require.Equal(t, soap.KindDateTime, p.Type)
			require.False(t, p.Required, "ChangedFrom is optional: without it, every object")

			require.NotEmpty(t, op.IDColumns)
			for _, c := range op.IDColumns {
				require.True(t, soap.ValidName(c), c)
				if op.Results != nil {
					require.Contains(t, op.Results, c, "a recorded read's id columns are recorded columns")
				}
			}
			// The id of a row is the key the object's writes are ordered
			// by: the feed and the command lanes name an object alike.
			del, ok := Lookup(op.Object + "Delete")
			require.True(t, ok, "%s has a Delete", op.Object)
			require.Equal(t, del.Key, op.IDColumns)
			for _, f := range op.ChangeFilters() {
				require.NotEqual(t, ParamChangedFrom, f.Name)
			}
		})
	}
}

func TestLookupChangeTrackedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		op      string
		target  error
		message []string
	}{
		{name: "a read without ChangedFrom", op: "RegionRead", target: ErrNotChangeTracked,
			message: []string{"RegionRead is a Read", "ClientUserRead (confirmed)", "CompetenceRead (inferred)"}},
		{name: "a write", op: "ClientUserEdit", target: ErrNotChangeTracked,
			message: []string{"ClientUserEdit is a BatchWrite"}},
		{name: "a history read", op: "GetHistoryOfServiceCalls", target: ErrNotChangeTracked},
		{name: "unknown", op: "ClientUserReed", target: ErrUnknownOperation,
			message: []string{`"ClientUserReed"`, "UserServiceLineRead (confirmed)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, err := LookupChangeTracked(tt.op)
			require.Nil(t, op)
			require.ErrorIs(t, err, tt.target)
			for _, m := range tt.message {
				require.ErrorContains(t, err, m)
			}
		})
	}
}
