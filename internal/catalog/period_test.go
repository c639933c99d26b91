package catalog

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestPeriodBounds asserts the bounds the operation pages give, and the
// conservative default of the others.
func TestPeriodBounds(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		name       string
		day, night time.Duration
		source     Source
		id         string
		archive    bool
	}{
		{name: "GetHistoryOfServiceCalls", day: 7 * day, night: 7 * day, source: Confirmed, id: "ServiceCallID"},
		{name: "GetHistoryOfServiceTreatments", day: 35 * day, night: 35 * day, source: Confirmed, id: "ServiceTreatmentID"},
		{name: "GetHistoryOfSIPCalls", day: day, night: day, source: Inferred, id: "SIPCallID"},
		{name: "GetHistoryOfServiceChat", day: day, night: day, source: Inferred},
		{name: "GetHistoryOfServiceCallsComments", day: day, night: day, source: Inferred},
		{name: "GetHistoryOfColleaguesChat", day: day, night: day, source: Inferred, archive: true},
		{name: "StorefrontProductClicksHistoryRead", day: day, night: day, source: Inferred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, p, err := LookupPeriodRead(tt.name)
			require.NoError(t, err)
			require.Equal(t, tt.name, op.Name)
			require.Equal(t, ParamPeriodFrom, p.From)
			require.Equal(t, ParamPeriodTo, p.To)
			require.Equal(t, tt.day, p.Max(false), "by day")
			require.Equal(t, tt.night, p.Max(true), "at night")
			require.Equal(t, tt.source, p.Source)
			require.Equal(t, tt.id, p.IDColumn)
			require.Equal(t, tt.id != "", p.IDSource != 0, "an id column has a source, and only then")
			require.Equal(t, tt.archive, p.Archive)
		})
	}
}

// TestPeriodReadsAreThePeriodKind: every read with a period is a
// PeriodRead with positive bounds, and every PeriodRead has one but the
// two that take something else.
func TestPeriodReadsAreThePeriodKind(t *testing.T) {
	t.Parallel()
	without := map[string]bool{"GetOpenedServiceTreatments": true, "ServiceRequestHistory": true}
	for _, op := range All() {
		p, ok := op.Period()
		if op.Kind != PeriodRead {
			require.False(t, ok, "%s is a %s", op.Name, op.Kind)
			continue
		}
		require.Equal(t, !without[op.Name], ok, op.Name)
		if !ok {
			continue
		}
		require.Positive(t, p.MaxDay, op.Name)
		require.GreaterOrEqual(t, p.MaxNight, p.MaxDay, "%s: a night bound is never tighter than the day's", op.Name)
		require.NotZero(t, p.Source, op.Name)
		// Where the parameters are declared, they are dateTimes; where
		// they are not, Fields types a time.Time as one.
		for _, name := range []string{p.From, p.To} {
			if param, known := op.Param(name); known {
				require.Equal(t, soap.KindDateTime, param.Type, "%s %s", op.Name, name)
			} else {
				require.False(t, op.ParamsKnown, "%s takes %s but does not declare it", op.Name, name)
			}
		}
	}
	require.Len(t, PeriodReads(), len(periods), "every entry names an operation")
}

// TestLookupPeriodRead: an unknown name and an operation without a
// period are refused, each with the list of what an export can read.
func TestLookupPeriodRead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, op string
		target   error
	}{
		{name: "unknown", op: "GetHistoryOfEverything", target: ErrUnknownOperation},
		{name: "a change-tracked read", op: "ClientUserRead", target: ErrNoPeriod},
		{name: "opened treatments take dates of opening", op: "GetOpenedServiceTreatments", target: ErrNoPeriod},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LookupPeriodRead(tt.op)
			require.True(t, errors.Is(err, tt.target), "%v", err)
			require.ErrorContains(t, err, tt.op)
			require.ErrorContains(t, err, "GetHistoryOfServiceCalls (7 days, confirmed)")
			require.ErrorContains(t, err, "GetHistoryOfServiceTreatments (35 days, confirmed)")
			require.ErrorContains(t, err, "GetHistoryOfSIPCalls (1 day, inferred)")
		})
	}
}
