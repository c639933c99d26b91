package enqueue

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNativeNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    any
		wantErr bool
	}{
		{in: "42", want: int64(42)},
		{in: "-7", want: int64(-7)},
		{in: "18446744073709551615", want: uint64(18446744073709551615)},
		{in: "0.1", want: 0.1},
		{in: "1.50", want: 1.5},
		{in: "1e3", want: 1000.0},
		{in: "12345678901234567.89", wantErr: true},
		{in: "18446744073709551616", wantErr: true},
		{in: "1e400", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := nativeNumber(json.Number(tc.in))
			if tc.wantErr {
				require.ErrorContains(t, err, "cannot be sent exactly in msgpack")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNativeNumbersNested(t *testing.T) {
	t.Parallel()
	got, err := nativeNumbers(map[string]any{"a": []any{json.Number("1"), map[string]any{"b": json.Number("2.5")}}, "s": "x"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": []any{int64(1), map[string]any{"b": 2.5}}, "s": "x"}, got)
	_, err = nativeNumbers(map[string]any{"a": []any{json.Number("1e999")}})
	require.ErrorContains(t, err, "a: [0]: number 1e999")
}

func TestMsgIDSuffix(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"result.ClientUserEdit.Yy0x": "Yy0x",
		"result.NoDot":               "",
		"c-1":                        "",
		"":                           "",
	}
	for in, want := range tests {
		require.Equal(t, want, msgIDSuffix(in), in)
	}
}
