package connect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/contract"
)

const someUUID = "00000000-0000-4000-8000-000000000001"

// validationCases are commands each checked by the client and sent to the
// real worker with the client's checks off: both must give the same
// verdict, field by field. want lists the problems (nil: valid).
var validationCases = []struct {
	name string
	op   connect.Operation
	want []connect.FieldProblem
}{
	{"valid typed edit", ops.ClientUserEdit{ClientUserID: someUUID, Name: "Анна", Password: "p", Phone: "1", EMail: "a@example.com",
		Birthday: connect.Set(time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)), Post: connect.Null[string]()}, nil},
	{"required fields missing", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{"ClientUserID": someUUID}},
		[]connect.FieldProblem{{"EMail", "required"}, {"Name", "required"}, {"Password", "required"}, {"Phone", "required"}}},
	{"typed zero values are not sent", ops.ClientUserEdit{ClientUserID: someUUID, Name: "A", Password: "p", Phone: "1"},
		[]connect.FieldProblem{{"EMail", "required"}}},
	{"null is absent for a required field", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": nil, "Password": "p", "Phone": "1", "EMail": "e"}},
		[]connect.FieldProblem{{"Name", "required"}}},
	{"bad UUID and too long", ops.ClientUserEdit{ClientUserID: "42", Name: strings.Repeat("я", 21), Password: "p", Phone: "1", EMail: "e"},
		[]connect.FieldProblem{{"ClientUserID", "not a UUID"}, {"Name", "longer than 20 characters (got 21)"}}},
	{"unknown field, near a known one", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": "A", "Password": "p", "Phone": "1", "EMail": "e", "email": "e"}},
		[]connect.FieldProblem{{"email", "unknown field (did you mean EMail?)"}}},
	{"number for a string", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": 5, "Password": "p", "Phone": "1", "EMail": "e"}},
		[]connect.FieldProblem{{"Name", "want xs:string, got a number"}}},
	{"object for a string", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": map[string]any{"a": 1}, "Password": "p", "Phone": "1", "EMail": "e"}},
		[]connect.FieldProblem{{"Name", "want xs:string, got an object"}}},
	{"bad date", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": "A", "Password": "p", "Phone": "1", "EMail": "e", "Birthday": "17.05.1990"}},
		[]connect.FieldProblem{{"Birthday", "not a date (want 2006-01-02)"}}},
	{"control character", connect.Raw{Op: "ClientUserEdit", Fields: map[string]any{
		"ClientUserID": someUUID, "Name": "a\x01b", "Password": "p", "Phone": "1", "EMail": "e"}},
		[]connect.FieldProblem{{"Name", "holds a character XML cannot carry (a control character, U+FFFE or U+FFFF) at character 2"}}},
	{"decimal as a string", connect.Raw{Op: "CompetenceAdd", Fields: map[string]any{
		"SpecialistID": someUUID, "ServiceID": someUUID, "Priority": "1"}}, nil},
	{"decimal that is not one", connect.Raw{Op: "CompetenceAdd", Fields: map[string]any{
		"SpecialistID": someUUID, "ServiceID": someUUID, "Priority": "high"}},
		[]connect.FieldProblem{{"Priority", "want xs:decimal, got a string of 4 characters"}}},
	{"typed decimal", ops.CompetenceAdd{SpecialistID: someUUID, ServiceID: someUUID, Priority: connect.Set(2.0)}, nil},
	{"unpublished parameters pass", ops.ClientAdd{Fields: map[string]any{"Name": "Acme", "INN": "7700000000"}}, nil},
	{"unpublished parameter with a bad name", ops.ClientAdd{Fields: map[string]any{"bad name": "x"}},
		[]connect.FieldProblem{{"bad name", "not a valid name (want letters, digits, '_', '-' or '.', starting with a letter or '_', such as ClientID)"}}},
	{"unpublished parameter too long", ops.ClientAdd{Fields: map[string]any{"Note": strings.Repeat("x", 64<<10+1)}},
		[]connect.FieldProblem{{"Note", "longer than 65536 bytes (got 65537)"}}},
	{"not base64", ops.ServiceRequestAttachFile{ServiceRequestID: "r", AuthorID: someUUID, Name: "a.txt", Hash: "h"},
		[]connect.FieldProblem{{"Data", "required"}}},
	{"base64 as a string", connect.Raw{Op: "ServiceRequestAttachFile", Fields: map[string]any{
		"ServiceRequestID": "r", "AuthorID": someUUID, "Name": "a.txt", "Hash": "h", "Data": "!!"}},
		[]connect.FieldProblem{{"Data", "not base64 (want standard base64 with padding)"}}},
	{"malformed object reference", connect.Raw{Op: "ServiceRequestAttachFile", Fields: map[string]any{
		"ServiceRequestID": "r", "AuthorID": someUUID, "Name": "a.txt", "Hash": "h", "Data": map[string]any{"$object": map[string]any{"bucket": "CONNECT_FILES"}}}},
		[]connect.FieldProblem{{"Data", "malformed object reference: name is required"}}},
	{"date required, typed", ops.GetOpenedServiceTreatments{ClientID: connect.Set("nope")},
		[]connect.FieldProblem{{"ClientID", "not a UUID"}, {"OpenedFrom", "required"}}},
	{"date typed", ops.GetOpenedServiceTreatments{OpenedFrom: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, nil},
	{"typed and in Fields twice", ops.ClientUserRead{ClientID: connect.Set(someUUID), Fields: map[string]any{"ClientID": someUUID}}, nil},
}

// TestValidationMatchesTheWorker runs validationCases through the
// client's checks and through the worker, and wants the same verdicts.
func TestValidationMatchesTheWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	checked := b.client(t, "")
	unchecked := b.client(t, "", connect.WithoutValidation())
	// Cancelled at cleanup: the parallel subtests run after this
	// function has returned.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)

	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.op.CommandFields(); err != nil {
				// Not a command at all: refused by the client alone.
				require.ErrorIs(t, checked.Validate(tc.op), connect.ErrInvalidFields)
				require.Equal(t, "typed and in Fields twice", tc.name)
				return
			}
			local := problems(t, checked.Validate(tc.op), true)
			require.Equal(t, tc.want, local, "the client's verdict")
			res, err := unchecked.Do(ctx, tc.op)
			require.NotEmpty(t, res.Code, "a result from the worker: %v", err)
			if res.Code == contract.CodeInvalidFields {
				require.Equal(t, tc.want, problems(t, err, false), "the worker's verdict")
			} else {
				require.Nil(t, tc.want, "the worker accepted the fields: %s %s", res.Code, res.Message)
			}
		})
	}
}

// problems returns the field problems of an INVALID_FIELDS error, nil
// for nil.
func problems(t *testing.T, err error, local bool) []connect.FieldProblem {
	t.Helper()
	if err == nil {
		return nil
	}
	var re *connect.ResultError
	require.True(t, errors.As(err, &re), "%v", err)
	require.Equal(t, contract.CodeInvalidFields, re.Code, "%v", err)
	require.Equal(t, local, re.Local)
	require.NotEmpty(t, re.Fields, "parsed from %q", re.Message)
	return re.Fields
}
