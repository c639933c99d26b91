package ops_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/connect/internal/opsgen"
	"github.com/onec-connect/connect-bridge/connect/ops"
	"github.com/onec-connect/connect-bridge/internal/catalog"
)

// TestGeneratedMatchesCatalogue regenerates the operations in memory and
// compares them with the committed file: a change of the catalogue
// without go generate fails here.
func TestGeneratedMatchesCatalogue(t *testing.T) {
	t.Parallel()
	want, err := opsgen.Generate()
	require.NoError(t, err)
	got, err := os.ReadFile("ops_gen.go")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "ops_gen.go is stale: run go generate ./connect/ops")
}

// TestEveryOperationHasAType checks the generated types cover the whole
// catalogue (87 operations), each named for its operation.
func TestEveryOperationHasAType(t *testing.T) {
	t.Parallel()
	require.Len(t, catalog.Names(), 87)
	for _, name := range catalog.Names() {
		op, ok := ops.New(name)
		require.True(t, ok, name)
		require.Equal(t, name, op.OperationName())
		fields, err := op.CommandFields()
		require.NoError(t, err)
		require.Empty(t, fields, "a zero command sends no field")
	}
	_, ok := ops.New("NoSuchOperation")
	require.False(t, ok)
}
