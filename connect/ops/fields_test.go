package ops_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// TestCommandFields checks what the typed fields send: zero required
// values and unset options nothing, a null as nil, dates and times in
// the API's layouts (the wall clock as given), other fields merged, and a
// field given twice refused.
func TestCommandFields(t *testing.T) {
	t.Parallel()
	msk := time.FixedZone("MSK", 3*3600)
	for _, tc := range []struct {
		name string
		op   connect.Operation
		want map[string]any
		err  string
	}{
		{"typed edit", ops.ClientUserEdit{
			ClientUserID: "id", Name: "Анна", Surname: connect.Set("Иванова"), Post: connect.Null[string](),
			Birthday: connect.Set(time.Date(1990, 5, 17, 23, 30, 0, 0, msk)),
		}, map[string]any{"ClientUserID": "id", "Name": "Анна", "Surname": "Иванова", "Post": nil, "Birthday": "1990-05-17"}, ""},
		{"date and time as the wall clock", ops.ClientUserRead{ChangedFrom: connect.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, msk))},
			map[string]any{"ChangedFrom": "2026-01-02T03:04:05"}, ""},
		{"decimal and bytes", ops.ServiceRequestAttachFile{Data: []byte("hi")}, map[string]any{"Data": []byte("hi")}, ""},
		{"other fields", ops.ClientUserRead{ClientID: connect.Set("c"), Fields: map[string]any{"Limit": 5}},
			map[string]any{"ClientID": "c", "Limit": 5}, ""},
		{"twice", ops.ClientUserRead{ClientID: connect.Set("c"), Fields: map[string]any{"ClientID": "d"}},
			nil, "ops: ClientUserRead: ClientID given both as a typed field and in Fields"},
		{"priority", ops.CompetenceAdd{Priority: connect.Set(1.5)}, map[string]any{"Priority": 1.5}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.op.CommandFields()
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
