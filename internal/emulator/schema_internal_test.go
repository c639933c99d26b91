package emulator

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
)

// TestKindsMatchCatalogue keeps the emulator's object model in step with
// the catalogue: an operation's key is the key of the object it touches,
// and an operation's recorded result columns are the columns it answers.
func TestKindsMatchCatalogue(t *testing.T) {
	t.Parallel()
	for _, op := range catalog.All() {
		k := kinds[op.Object]
		if k == nil || op.Key == nil || op.Kind == catalog.Plain {
			continue // plain operations key by the request, not by their object
		}
		require.Equal(t, op.Key, k.key, "%s: key of %s", op.Name, op.Object)
	}
	for name, rows := range referenceRows {
		k := kinds[name]
		require.NotNil(t, k, name)
		require.Len(t, k.cols, 2, "%s: a reference list is an id and a name", name)
		for _, row := range rows {
			require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, row[0])
		}
	}
}
