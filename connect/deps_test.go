package connect_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencies lists the packages a program that imports only the
// SDK is built from (go list -deps), and wants nothing but the standard
// library, nats.go and what it needs, msgpack, and the module's own
// packages: no nats-server, Kubernetes, Prometheus, OpenTelemetry,
// zerolog or test modules.
func TestDependencies(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to list dependencies")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./testdata/onlysdk").CombinedOutput()
	require.NoError(t, err, "%s", out)
	allowed := []string{
		"github.com/onec-connect/connect-bridge/",
		"github.com/nats-io/nats.go",
		"github.com/nats-io/nkeys",
		"github.com/nats-io/nuid",
		"github.com/klauspost/compress/", // nats.go's websocket compression
		"golang.org/x/crypto/",           // nkeys
		"golang.org/x/sys/",
		"github.com/vmihailenco/msgpack/v5",
		"github.com/vmihailenco/tagparser/v2",
	}
	var pkgs, module []string
	for _, p := range strings.Fields(string(out)) {
		pkgs = append(pkgs, p)
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(p, a)
		}
		require.True(t, ok, "the SDK brings in %s", p)
		for _, banned := range []string{"nats-server", "k8s.io", "prometheus", "opentelemetry", "zerolog", "testify", "goleak", "/internal/worker", "/internal/natstest", "/internal/emulator"} {
			require.NotContains(t, p, banned)
		}
		if strings.HasPrefix(p, "github.com/onec-connect/") {
			module = append(module, strings.TrimPrefix(p, "github.com/onec-connect/connect-bridge/"))
		}
	}
	t.Logf("%d packages outside the standard library, %d of this module: %s", len(pkgs), len(module), strings.Join(module, " "))
}
