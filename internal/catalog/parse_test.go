package catalog

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParseFieldErrors reads back what Fields reports, for every kind of
// problem, and refuses text of another form.
func TestParseFieldErrors(t *testing.T) {
	t.Parallel()
	op, ok := Lookup("ClientUserEdit")
	require.True(t, ok)
	_, err := op.Fields(map[string]any{
		"ClientUserID": "42", "Name": "a name much longer than twenty", "Password": 7.0,
		"Birthday": "yesterday", "name": "x", "Phone": "+7", "EMail": "a@b",
	})
	var want FieldErrors
	require.True(t, errors.As(err, &want))
	require.Len(t, want, 5)
	got, ok := ParseFieldErrors("ClientUserEdit", err.Error())
	require.True(t, ok)
	require.Equal(t, want, got)

	for name, text := range map[string]string{
		"another operation": "catalog: ClientUserAdd: Name: required",
		"no prefix":         "Name: required",
		"no problem":        "catalog: ClientUserEdit: Name",
		"empty":             "catalog: ClientUserEdit: ",
		"empty part":        "catalog: ClientUserEdit: Name: required; ",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, ok := ParseFieldErrors("ClientUserEdit", text)
			require.False(t, ok)
		})
	}
}
