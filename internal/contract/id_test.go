package contract_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		id      string
		wantErr string // "" when valid
	}{
		{"plain", "c-1", ""},
		{"spaces and wildcards", "id with spaces/and*wild>cards", ""},
		{"cyrillic", "заказ-17", ""},
		{"emoji", "🙂", ""},
		{"256 bytes", strings.Repeat("x", 256), ""},
		{"empty", "", "contract: id is empty"},
		{"257 bytes", strings.Repeat("x", 257), "is 257 bytes, longer than 256"},
		{"5 KB", strings.Repeat("x", 5000), "is 5000 bytes, longer than 256"},
		{"invalid UTF-8", "a\xffb", "is not valid UTF-8 (byte 1)"},
		{"U+FFFD", "a\uFFFD", "holds U+FFFD, the replacement character (byte 1)"},
		{"NUL", "a\x00", "holds the control character U+0000 (byte 1)"},
		{"newline", "a\nforged log line", "U+000A"},
		{"DEL", "a\x7f", "U+007F"},
		{"C1", "a\u0085", "U+0085"},
		{"bidi override", "abc\u202Edef", "U+202E"},
		{"zero-width space", "a\u200Bb", "U+200B"},
		{"line separator", "a\u2028b", "U+2028"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := contract.ValidID(tc.id)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestHeaderID(t *testing.T) {
	t.Parallel()
	id, err := contract.HeaderID("")
	require.NoError(t, err, "no header is no error")
	require.Empty(t, id)

	id, err = contract.HeaderID("c-1")
	require.NoError(t, err)
	require.Equal(t, "c-1", id)

	long := strings.Repeat("k", 5<<10)
	id, err = contract.HeaderID(long)
	require.EqualError(t, err, "contract: Nats-Msg-Id header is 5120 bytes, longer than 256")
	require.Empty(t, id, "a 5 KB header never becomes an id")

	id, err = contract.HeaderID("a\r\nb")
	require.ErrorContains(t, err, "Nats-Msg-Id header holds the control character U+000D (byte 1)")
	require.Empty(t, id)
}
