package emulator_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/emulator"
)

func TestParseLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		lo, hi  time.Duration
		wantErr string
	}{
		{in: "", lo: 0, hi: 0},
		{in: "0", lo: 0, hi: 0},
		{in: "20ms", lo: 20 * time.Millisecond, hi: 20 * time.Millisecond},
		{in: "10ms-50ms", lo: 10 * time.Millisecond, hi: 50 * time.Millisecond},
		{in: " 1s - 2s ", lo: time.Second, hi: 2 * time.Second},
		{in: "0-5ms", lo: 0, hi: 5 * time.Millisecond},
		{in: "50ms-10ms", wantErr: "upper bound below lower bound"},
		{in: "-5ms", wantErr: "negative"},
		{in: "fast", wantErr: "want a duration"},
		{in: "10ms-", wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			lo, hi, err := emulator.ParseLatency(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.lo, lo)
			require.Equal(t, tt.hi, hi)
		})
	}
}
