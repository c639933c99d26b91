// Package k8s_test checks the Kubernetes deployment under deploy/k8s
// without a cluster: every manifest decodes strictly into its API type,
// the example overlay builds with kustomize, and the built objects agree
// with each other and with the worker (its flags, its config file, its
// catalogue of operations). The NetworkPolicies are evaluated against the
// pods that should and should not get through; the NATS chart's values
// are checked for authentication, and their accounts and permissions are
// run on a real embedded NATS server with the real worker and producer.
// It also checks that the Dockerfile builds the binary the way `make
// static` does, since no Docker engine runs in CI.
package k8s_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/contract"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// Paths, relative to this package's folder (go test runs tests there).
const (
	exampleOverlay = "overlays/example"
	natsValuesFile = "nats-values.yaml"
	kedaComponent  = "components/keda/scaledobject.yaml"
	flagsFile      = "../../cmd/worker/flags.go"
	makefileFile   = "../../Makefile"
	dockerfileFile = "../../Dockerfile"
	goModFile      = "../../go.mod"

	// testPassword stands in for the file the user creates; the build
	// must carry it into the Secret unchanged.
	testPassword = "not-a-real-password"
	// testNATSPassword stands in for secrets/nats-password, written
	// without a newline as the overlay asks.
	testNATSPassword = "not-a-real-nats-password"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LeakOptions()...)
}

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) that
// the manifests use, field for field as KEDA's Go types name them
// (apis/keda/v1alpha1/scaledobject_types.go). Strict decoding into it
// makes a misspelt field fail here instead of being dropped by the API
// server. Add a field here before using it in a manifest.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef  scaleTarget     `json:"scaleTargetRef"`
	PollingInterval *int32          `json:"pollingInterval,omitempty"`
	CooldownPeriod  *int32          `json:"cooldownPeriod,omitempty"`
	MinReplicaCount *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32          `json:"maxReplicaCount,omitempty"`
	Advanced        *advancedConfig `json:"advanced,omitempty"`
	Triggers        []scaleTrigger  `json:"triggers"`
}

type scaleTarget struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name"`
}

type advancedConfig struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	} `json:"horizontalPodAutoscalerConfig,omitempty"`
}

// scaleTrigger's metadata is a map of strings in KEDA: an unquoted number
// there fails to decode, as it fails in the cluster.
type scaleTrigger struct {
	Type     string            `json:"type"`
	Name     string            `json:"name,omitempty"`
	Metadata map[string]string `json:"metadata"`
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the manifests use.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// fileConfig mirrors the worker's --config file (cmd/worker/flags.go),
// which the worker itself decodes with unknown fields disallowed.
type fileConfig struct {
	Defaults   worker.OpSettings            `json:"defaults"`
	Operations map[string]worker.OpSettings `json:"operations"`
	Limits     map[string]int               `json:"limits"`
}

// newObject returns a pointer to the Go type of apiVersion and kind, or
// false for a kind the manifests are not expected to hold.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "keda.sh/v1alpha1 ScaledObject":
		return &scaledObject{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &serviceMonitor{}, true
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &prometheusRule{}, true
	case "kustomize.config.k8s.io/v1beta1 Kustomization", "kustomize.config.k8s.io/v1alpha1 Component":
		return &kusttypes.Kustomization{}, true
	}
	return nil, false
}

// decodeStrict decodes one YAML document into v, failing on unknown
// fields, duplicate fields and wrong types. sigs.k8s.io/json is what the
// API server's strict decoding uses; unlike encoding/json it also matches
// field names case-sensitively, so "Replicas:" is unknown, not replicas.
// A strategic-merge patch's "$patch" directives are checked and set
// aside: kustomize consumes them, the API server never sees them.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	if j, err = dropPatchDirectives(j); err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// dropPatchDirectives removes the "$patch" keys of a strategic-merge
// patch (delete, replace, merge) from a JSON document, refusing any other
// directive value.
func dropPatchDirectives(j []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, err
	}
	found := false
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if d, ok := x["$patch"]; ok {
				if d != "delete" && d != "replace" && d != "merge" {
					return fmt.Errorf("unknown $patch directive %v", d)
				}
				delete(x, "$patch")
				found = true
			}
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(doc); err != nil {
		return nil, err
	}
	if !found {
		return j, nil
	}
	return json.Marshal(doc)
}

// decodeObject decodes a manifest into the Go type its apiVersion and kind
// name.
func decodeObject(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	obj, ok := newObject(tm.APIVersion, tm.Kind)
	if !ok {
		return nil, fmt.Errorf("no Go type for apiVersion %q kind %q: add it to newObject", tm.APIVersion, tm.Kind)
	}
	if err := decodeStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	return obj, nil
}

// splitDocuments splits a multi-document YAML stream, dropping empty
// documents (only comments or whitespace).
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(j)); s == "null" || s == "" {
			continue
		}
		docs = append(docs, doc)
	}
}

// manifestFiles lists the YAML files under deploy/k8s that are
// Kubernetes or kustomize objects: all of them but the Helm values.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := filepath.Ext(p)
		if d.IsDir() || (ext != ".yaml" && ext != ".yml") || p == natsValuesFile {
			return nil
		}
		files = append(files, p)
		return nil
	})
	require.NoError(t, err)
	return files
}

func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	files := manifestFiles(t)
	// The base, three components, the overlay and their object files.
	require.GreaterOrEqual(t, len(files), 12, "found only %q", files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		docs, err := splitDocuments(data)
		require.NoError(t, err, file)
		require.NotEmpty(t, docs, "%s holds no object", file)
		for i, doc := range docs {
			t.Run(fmt.Sprintf("%s#%d", file, i), func(t *testing.T) {
				t.Parallel()
				_, err := decodeObject(doc)
				require.NoError(t, err)
			})
		}
	}
}

// TestStrictDecodingRejects shows that the decoding above would catch the
// mistakes it is there for.
func TestStrictDecodingRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{
			name: "valid deployment",
			doc:  "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n",
		},
		{
			name:    "unknown field",
			doc:     "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 3\n",
			wantErr: `unknown field "spec.replica"`,
		},
		{
			name:    "field in the wrong case",
			doc:     "apiVersion: apps/v1\nkind: Deployment\nspec:\n  Replicas: 3\n",
			wantErr: `unknown field "spec.Replicas"`,
		},
		{
			name:    "wrong type",
			doc:     "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: three\n",
			wantErr: "cannot unmarshal string",
		},
		{
			name:    "duplicate field",
			doc:     "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n  replicas: 2\n",
			wantErr: "already set in map",
		},
		{
			name:    "unknown kind",
			doc:     "apiVersion: apps/v1\nkind: StatefulSet\n",
			wantErr: "no Go type",
		},
		{
			name:    "scaled object field misspelt",
			doc:     "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nspec:\n  maxReplicas: 5\n",
			wantErr: `unknown field "spec.maxReplicas"`,
		},
		{
			name:    "scaled object metadata not a string",
			doc:     "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nspec:\n  triggers:\n  - type: nats-jetstream\n    metadata:\n      lagThreshold: 10\n",
			wantErr: "cannot unmarshal number",
		},
		{
			name:    "service monitor field misspelt",
			doc:     "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoint:\n  - port: http\n",
			wantErr: `unknown field "spec.endpoint"`,
		},
		{
			name:    "network policy field misspelt",
			doc:     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec:\n  ingres:\n  - {}\n",
			wantErr: `unknown field "spec.ingres"`,
		},
		{
			name: "patch directive",
			doc:  "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        env:\n        - name: A\n          $patch: delete\n",
		},
		{
			name:    "unknown patch directive",
			doc:     "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        $patch: remove\n",
			wantErr: "unknown $patch directive",
		},
		{
			name:    "kustomization field misspelt",
			doc:     "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource:\n- a.yaml\n",
			wantErr: `unknown field "resource"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeObject([]byte(tt.doc))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// workerEnvNames collects the environment variables the worker reads: the
// names given to env("..."), and the third argument of dur(...),
// secret(...), bytesFlag(...) and share(...) in cmd/worker/flags.go.
func workerEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(flagsFile)
	require.NoError(t, err)
	envCall := regexp.MustCompile(`\benv\("([A-Z][A-Z0-9_]*)"`)
	durCall := regexp.MustCompile(`\b(?:dur|secret|bytesFlag|share)\([^,]+,\s*"[^"]*",\s*"([A-Z][A-Z0-9_]*)"`)
	names := map[string]bool{}
	for _, re := range []*regexp.Regexp{envCall, durCall} {
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	return names
}

func TestWorkerEnvNames(t *testing.T) {
	t.Parallel()
	names := workerEnvNames(t)
	// One of each way flags.go reads the environment, so a change there
	// that the regexps miss fails here rather than passing everything.
	for _, want := range []string{"NATS_URL", "NATS_USER", "NATS_PASSWORD", "STREAM_REPLICAS", "HTTP_LISTEN", "CONFIG_FILE", "CONNECT_PASSWORD_FILE", "QUOTA_TZ", "SHUTDOWN_TIMEOUT", "MAX_WAIT", "LANE_BYTES", "EXPORT_SHARE"} {
		require.True(t, names[want], "%s not found in %s: %v", want, flagsFile, names)
	}
}

// bundle is the kustomize output of an overlay, decoded.
type bundle struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	pdb            *policyv1.PodDisruptionBudget
	networkPolicy  *networkingv1.NetworkPolicy
	scaledObject   *scaledObject
	serviceMonitor *serviceMonitor
	rules          *prometheusRule
	configMaps     map[string]*corev1.ConfigMap // by name, hash suffix included
	secrets        map[string]*corev1.Secret
}

// kustomizeMu serialises kustomize runs: its OpenAPI schema (kyaml/openapi)
// is global state, built lazily and not safe for concurrent builds, which
// the race detector reports when parallel tests build overlays.
var kustomizeMu sync.Mutex

// build copies deploy/k8s into an in-memory file system, writes the
// password files the user would create (and any extra files), runs
// kustomize on dir, and decodes every object strictly.
func build(t *testing.T, dir string, extra map[string]string) bundle {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		// Not the tests, and not a developer's real credentials: only the
		// placeholders of secrets/ folders.
		if strings.HasSuffix(p, ".go") || (filepath.Base(filepath.Dir(p)) == "secrets" && filepath.Ext(p) != ".example") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/k8s", filepath.ToSlash(p)), b)
	})
	require.NoError(t, err)
	files := map[string]string{
		exampleOverlay + "/secrets/connect-password": testPassword + "\n",
		exampleOverlay + "/secrets/nats-password":    testNATSPassword,
	}
	for name, content := range extra {
		files[name] = content
	}
	for name, content := range files {
		require.NoError(t, mem.WriteFile(path.Join("/k8s", name), []byte(content)))
	}

	kustomizeMu.Lock()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Join("/k8s", dir))
	kustomizeMu.Unlock()
	require.NoError(t, err)
	out, err := res.AsYaml()
	require.NoError(t, err)
	docs, err := splitDocuments(out)
	require.NoError(t, err)

	b := bundle{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, doc := range docs {
		obj, err := decodeObject(doc)
		require.NoError(t, err, "built object:\n%s", doc)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			require.Nil(t, b.deployment, "two Deployments")
			b.deployment = o
		case *corev1.Service:
			require.Nil(t, b.service, "two Services")
			b.service = o
		case *corev1.ServiceAccount:
			b.serviceAccount = o
		case *policyv1.PodDisruptionBudget:
			b.pdb = o
		case *networkingv1.NetworkPolicy:
			require.Nil(t, b.networkPolicy, "two NetworkPolicies")
			b.networkPolicy = o
		case *scaledObject:
			b.scaledObject = o
		case *serviceMonitor:
			b.serviceMonitor = o
		case *prometheusRule:
			b.rules = o
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets[o.Name] = o
		default:
			t.Fatalf("unexpected object in the build: %T", obj)
		}
	}
	require.NotNil(t, b.deployment, "no Deployment")
	require.NotNil(t, b.service, "no Service")
	require.NotNil(t, b.pdb, "no PodDisruptionBudget")
	require.NotNil(t, b.networkPolicy, "no NetworkPolicy")
	return b
}

// container returns the worker container.
func (b bundle) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := b.deployment.Spec.Template.Spec.Containers
	require.Len(t, cs, 1)
	return &cs[0]
}

// env returns the value of the container's own env var name.
func (b bundle) env(t *testing.T, name string) (string, bool) {
	t.Helper()
	for _, e := range b.container(t).Env {
		if e.Name == name {
			require.Nil(t, e.ValueFrom, "%s must be a plain value", name)
			return e.Value, true
		}
	}
	return "", false
}

// envSource returns where the container's env var name comes from, for a
// variable set with valueFrom; nil when it is not set that way.
func (b bundle) envSource(t *testing.T, name string) *corev1.EnvVarSource {
	t.Helper()
	for _, e := range b.container(t).Env {
		if e.Name == name {
			return e.ValueFrom
		}
	}
	return nil
}

// mustEnv is env for a variable that must be set.
func (b bundle) mustEnv(t *testing.T, name string) string {
	t.Helper()
	v, ok := b.env(t, name)
	require.True(t, ok, "%s is not set", name)
	require.NotEmpty(t, v, "%s is empty", name)
	return v
}

// envFromConfigMaps returns the ConfigMaps the container takes env from.
func (b bundle) envFromConfigMaps(t *testing.T) []*corev1.ConfigMap {
	t.Helper()
	var cms []*corev1.ConfigMap
	for _, src := range b.container(t).EnvFrom {
		require.Nil(t, src.SecretRef, "secrets are mounted as files, never env")
		require.NotNil(t, src.ConfigMapRef)
		cm, ok := b.configMaps[src.ConfigMapRef.Name]
		require.True(t, ok, "envFrom names ConfigMap %q, which the build lacks", src.ConfigMapRef.Name)
		cms = append(cms, cm)
	}
	return cms
}

// effectiveEnv is the container's environment: envFrom, then env over it.
func (b bundle) effectiveEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, cm := range b.envFromConfigMaps(t) {
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range b.container(t).Env {
		env[e.Name] = e.Value
	}
	return env
}

// podLabels are the labels of the pod template.
func (b bundle) podLabels(t *testing.T) labels.Set {
	t.Helper()
	l := b.deployment.Spec.Template.Labels
	require.NotEmpty(t, l, "pod template has no labels")
	return labels.Set(l)
}

// httpPort is the container port named http.
func (b bundle) httpPort(t *testing.T) corev1.ContainerPort {
	t.Helper()
	for _, p := range b.container(t).Ports {
		if p.Name == "http" {
			return p
		}
	}
	t.Fatal("the container declares no port named http")
	return corev1.ContainerPort{}
}

// resolvePort turns a probe's or Service's target port into a number.
func (b bundle) resolvePort(t *testing.T, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range b.container(t).Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("port %q is not a container port", p.StrVal)
	return 0
}

// mountedFile finds the volume that provides the file at p: the mount
// whose path is p's folder, and the volume it mounts.
func (b bundle) mountedFile(t *testing.T, p string) (corev1.VolumeMount, corev1.Volume) {
	t.Helper()
	dir := path.Dir(path.Clean(p))
	for _, m := range b.container(t).VolumeMounts {
		if path.Clean(m.MountPath) != dir {
			continue
		}
		require.Empty(t, m.SubPath, "a subPath mount never sees updates of its source")
		for _, v := range b.deployment.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				return m, v
			}
		}
		t.Fatalf("mount %s names no volume %q", m.MountPath, m.Name)
	}
	t.Fatalf("nothing is mounted at %s (for %s)", dir, p)
	return corev1.VolumeMount{}, corev1.Volume{}
}

// itemKey returns the key of a ConfigMap or Secret that a volume projects
// to file, given its items (all keys, by their names, when there are none).
func itemKey(items []corev1.KeyToPath, file string) string {
	if len(items) == 0 {
		return file
	}
	for _, it := range items {
		if it.Path == file {
			return it.Key
		}
	}
	return ""
}

// requireSecretFile checks that env var name holds the path of a file
// that a Secret volume provides, read-only, and returns the file's
// content from the built Secret.
func (b bundle) requireSecretFile(t *testing.T, name string) []byte {
	t.Helper()
	p := b.mustEnv(t, name)
	require.True(t, path.IsAbs(p), "%s=%q is not an absolute path", name, p)
	m, v := b.mountedFile(t, p)
	require.True(t, m.ReadOnly, "%s is mounted writable", m.MountPath)
	require.NotNil(t, v.Secret, "%s comes from volume %q, which is not a Secret", p, v.Name)
	key := itemKey(v.Secret.Items, path.Base(p))
	require.NotEmpty(t, key, "Secret volume %q does not project %s", v.Name, path.Base(p))
	sec, ok := b.secrets[v.Secret.SecretName]
	require.True(t, ok, "volume %q names Secret %q, which the build lacks", v.Name, v.Secret.SecretName)
	data, ok := sec.Data[key]
	require.True(t, ok, "Secret %q has no key %q", sec.Name, key)
	return data
}

func TestExampleOverlay(t *testing.T) {
	t.Parallel()
	b := build(t, exampleOverlay, nil)
	nats := readNATSValues(t)
	workerEnv := workerEnvNames(t)

	checks := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"everything in one namespace", func(t *testing.T) {
			ns := b.deployment.Namespace
			require.NotEmpty(t, ns)
			objs := []metav1.Object{b.service, b.pdb, b.networkPolicy, b.serviceAccount, b.scaledObject, b.serviceMonitor}
			for _, cm := range b.configMaps {
				objs = append(objs, cm)
			}
			for _, s := range b.secrets {
				objs = append(objs, s)
			}
			for _, o := range objs {
				require.Equal(t, ns, o.GetNamespace(), "%T %s", o, o.GetName())
			}
		}},
		{"selectors match the pod template", func(t *testing.T) {
			pod := b.podLabels(t)
			sel, err := metav1.LabelSelectorAsSelector(b.deployment.Spec.Selector)
			require.NoError(t, err)
			require.False(t, sel.Empty(), "the Deployment selects every pod")
			require.True(t, sel.Matches(pod), "Deployment selector %s, pod labels %s", sel, pod)

			require.NotEmpty(t, b.service.Spec.Selector, "the Service selects nothing")
			require.True(t, labels.SelectorFromSet(b.service.Spec.Selector).Matches(pod), "Service selector")

			sel, err = metav1.LabelSelectorAsSelector(b.pdb.Spec.Selector)
			require.NoError(t, err)
			require.False(t, sel.Empty())
			require.True(t, sel.Matches(pod), "PodDisruptionBudget selector")

			for _, tsc := range b.deployment.Spec.Template.Spec.TopologySpreadConstraints {
				sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
				require.NoError(t, err)
				require.True(t, sel.Matches(pod), "topology spread on %s counts other pods", tsc.TopologyKey)
			}
			for _, term := range b.deployment.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				sel, err := metav1.LabelSelectorAsSelector(term.PodAffinityTerm.LabelSelector)
				require.NoError(t, err)
				require.True(t, sel.Matches(pod), "anti-affinity counts other pods")
			}
		}},
		{"the Service reaches the http port", func(t *testing.T) {
			want := b.httpPort(t).ContainerPort
			require.NotEmpty(t, b.service.Spec.Ports)
			for _, p := range b.service.Spec.Ports {
				require.Equal(t, want, b.resolvePort(t, p.TargetPort), "Service port %s", p.Name)
			}
		}},
		{"probes hit /healthz and /readyz where the worker listens", func(t *testing.T) {
			c := b.container(t)
			want := b.httpPort(t).ContainerPort
			host, port, err := net.SplitHostPort(b.mustEnv(t, "HTTP_LISTEN"))
			require.NoError(t, err)
			require.Contains(t, []string{"", "0.0.0.0", "::"}, host, "HTTP_LISTEN must listen beyond loopback for the kubelet and Prometheus")
			require.Equal(t, strconv.Itoa(int(want)), port, "HTTP_LISTEN port vs container port http")

			probes := []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{
				{"liveness", c.LivenessProbe, "/healthz"},
				{"readiness", c.ReadinessProbe, "/readyz"},
				{"startup", c.StartupProbe, "/healthz"},
			}
			for _, p := range probes {
				require.NotNil(t, p.probe, "no %s probe", p.name)
				require.NotNil(t, p.probe.HTTPGet, "%s probe is not an HTTP GET", p.name)
				require.Equal(t, p.path, p.probe.HTTPGet.Path, "%s probe path", p.name)
				require.Contains(t, []corev1.URIScheme{"", corev1.URISchemeHTTP}, p.probe.HTTPGet.Scheme, "%s probe scheme", p.name)
				require.Equal(t, want, b.resolvePort(t, p.probe.HTTPGet.Port), "%s probe port", p.name)
			}
		}},
		{"the API password is a file from the Secret", func(t *testing.T) {
			got := b.requireSecretFile(t, "CONNECT_PASSWORD_FILE")
			require.Equal(t, testPassword+"\n", string(got), "the Secret does not hold the overlay's password file")
		}},
		{"no secret in the environment but the NATS password", func(t *testing.T) {
			// The worker reads its NATS password from NATS_PASSWORD only;
			// every other secret is a file.
			fromSecret := map[string]bool{"NATS_PASSWORD": true}
			for _, c := range b.deployment.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						require.True(t, fromSecret[e.Name], "%s comes from a Secret: mount it as a file", e.Name)
					}
				}
			}
			for name := range b.effectiveEnv(t) {
				require.NotEqual(t, "CONNECT_PASSWORD", name, "the password goes in CONNECT_PASSWORD_FILE")
				if strings.Contains(name, "PASSWORD") || strings.Contains(name, "TOKEN") {
					if fromSecret[name] {
						continue
					}
					require.True(t, strings.HasSuffix(name, "_FILE"), "%s would hold a secret literal", name)
				}
			}
		}},
		{"NATS user and password, the password from the Secret", func(t *testing.T) {
			user := b.mustEnv(t, "NATS_USER")
			acct, u := natsUserOf(t, nats, user)
			require.Equal(t, natsStreamAccount, acct, "the worker's user is not in the streams' account")
			require.NotNil(t, u.Permissions, "the worker's NATS user is unrestricted")

			src := b.envSource(t, "NATS_PASSWORD")
			require.NotNil(t, src, "NATS_PASSWORD is not set from a Secret")
			ref := src.SecretKeyRef
			require.NotNil(t, ref, "NATS_PASSWORD does not come from a Secret")
			for _, e := range b.container(t).Env {
				if e.Name == "NATS_PASSWORD" {
					require.Empty(t, e.Value, "NATS_PASSWORD has a literal value")
				}
			}
			require.True(t, ref.Optional == nil || !*ref.Optional, "an optional password would start the worker without one")
			sec, ok := b.secrets[ref.Name]
			require.True(t, ok, "NATS_PASSWORD names Secret %q, which the build lacks", ref.Name)
			require.Equal(t, testNATSPassword, string(sec.Data[ref.Key]), "Secret %s key %s", ref.Name, ref.Key)
			for name := range b.effectiveEnv(t) {
				require.NotContains(t, []string{"NATS_CREDS", "NATS_TOKEN", "NATS_NKEY"}, name, "a second way to authenticate; the worker takes one")
			}
		}},
		{"shutdown fits in the grace period", func(t *testing.T) {
			d, err := time.ParseDuration(b.mustEnv(t, "SHUTDOWN_TIMEOUT"))
			require.NoError(t, err)
			grace := b.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds
			require.NotNil(t, grace)
			require.Greater(t, time.Duration(*grace)*time.Second, d, "terminationGracePeriodSeconds must exceed SHUTDOWN_TIMEOUT")
		}},
		{"non-root on a read-only root file system", func(t *testing.T) {
			spec := b.deployment.Spec.Template.Spec
			psc := spec.SecurityContext
			require.NotNil(t, psc)
			require.Equal(t, new(true), psc.RunAsNonRoot)
			require.Equal(t, new(int64(65532)), psc.RunAsUser)
			require.NotNil(t, psc.FSGroup)
			require.NotNil(t, psc.SeccompProfile)
			require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
			require.Equal(t, new(false), spec.AutomountServiceAccountToken)

			sc := b.container(t).SecurityContext
			require.NotNil(t, sc)
			require.Equal(t, new(true), sc.ReadOnlyRootFilesystem)
			require.Equal(t, new(false), sc.AllowPrivilegeEscalation)
			require.True(t, sc.Privileged == nil || !*sc.Privileged)
			if sc.RunAsUser != nil {
				require.NotZero(t, *sc.RunAsUser)
			}
			require.NotNil(t, sc.Capabilities)
			require.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"))
			require.Empty(t, sc.Capabilities.Add)
		}},
		{"writable only in emptyDirs, at /tmp", func(t *testing.T) {
			vols := map[string]corev1.Volume{}
			for _, v := range b.deployment.Spec.Template.Spec.Volumes {
				vols[v.Name] = v
			}
			for _, m := range b.container(t).VolumeMounts {
				v, ok := vols[m.Name]
				require.True(t, ok, "mount %s names no volume", m.MountPath)
				if m.ReadOnly {
					continue
				}
				require.NotNil(t, v.EmptyDir, "%s is writable and not an emptyDir", m.MountPath)
				require.Equal(t, "/tmp", m.MountPath)
				require.NotNil(t, v.EmptyDir.SizeLimit, "emptyDir %s has no size limit", v.Name)
			}
		}},
		{"resources requested and limited", func(t *testing.T) {
			r := b.container(t).Resources
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, ok := r.Requests[name]
				require.True(t, ok, "no %s request", name)
				lim, ok := r.Limits[name]
				require.True(t, ok, "no %s limit", name)
				require.Positive(t, req.Sign(), "%s request", name)
				require.LessOrEqual(t, req.Cmp(lim), 0, "%s request over its limit", name)
			}
		}},
		{"three replicas spread over nodes", func(t *testing.T) {
			spec := b.deployment.Spec
			require.Equal(t, new(int32(3)), spec.Replicas)
			keys := map[string]bool{}
			for _, tsc := range spec.Template.Spec.TopologySpreadConstraints {
				keys[tsc.TopologyKey] = true
			}
			require.True(t, keys["kubernetes.io/hostname"], "no topology spread over kubernetes.io/hostname")
			aff := spec.Template.Spec.Affinity
			require.NotNil(t, aff)
			require.NotNil(t, aff.PodAntiAffinity)
			pref := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
			require.NotEmpty(t, pref, "no soft pod anti-affinity")
			require.Equal(t, "kubernetes.io/hostname", pref[0].PodAffinityTerm.TopologyKey)
		}},
		{"the NATS cluster, not the embedded server", func(t *testing.T) {
			u, err := url.Parse(b.mustEnv(t, "NATS_URL"))
			require.NoError(t, err)
			require.Equal(t, "nats", u.Scheme)
			require.Equal(t, "nats", u.Hostname(), "the Service of the NATS release \"nats\"")
			replicas, err := strconv.Atoi(b.mustEnv(t, "STREAM_REPLICAS"))
			require.NoError(t, err)
			require.Equal(t, 3, replicas)
			require.LessOrEqual(t, replicas, nats.Config.Cluster.Replicas, "more stream replicas than NATS servers")
			for name := range b.effectiveEnv(t) {
				require.False(t, strings.HasPrefix(name, "EMBEDDED_"), "%s configures the embedded server", name)
			}
		}},
		{"config.json is a config the worker accepts", func(t *testing.T) {
			p := b.mustEnv(t, "CONFIG_FILE")
			m, v := b.mountedFile(t, p)
			require.True(t, m.ReadOnly)
			require.NotNil(t, v.ConfigMap, "%s is not from a ConfigMap", p)
			key := itemKey(v.ConfigMap.Items, path.Base(p))
			require.Equal(t, "config.json", key)
			cm, ok := b.configMaps[v.ConfigMap.Name]
			require.True(t, ok, "volume names ConfigMap %q, which the build lacks", v.ConfigMap.Name)
			raw, ok := cm.Data[key]
			require.True(t, ok)

			// As the worker reads it: types checked, unknown fields refused.
			var fc fileConfig
			d := json.NewDecoder(strings.NewReader(raw))
			d.DisallowUnknownFields()
			require.NoError(t, d.Decode(&fc))
			// Stricter than the worker, whose encoding/json also takes
			// "Max_Wait": only the documented names, case-sensitively.
			var names struct {
				Defaults   map[string]json.RawMessage            `json:"defaults"`
				Operations map[string]map[string]json.RawMessage `json:"operations"`
				Limits     map[string]int                        `json:"limits"`
			}
			strictErrs, err := kjson.UnmarshalStrict([]byte(raw), &names)
			require.NoError(t, err)
			require.NoError(t, errors.Join(strictErrs...), "config.json has keys other than defaults, operations, limits")
			settings := []string{"max_rows", "max_wait", "max_pending", "concurrency", "max_attempts", "call_timeout", "retry_unknown_outcome"}
			for k := range names.Defaults {
				require.Contains(t, settings, k, "defaults")
			}
			for op, s := range names.Operations {
				for k := range s {
					require.Contains(t, settings, k, "operations.%s", op)
				}
			}
			for op, s := range fc.Operations {
				_, ok := catalog.Lookup(op)
				require.True(t, ok, "operations: %q is not an operation of the API", op)
				require.Zero(t, s.RetryUnknownOutcome, "retry_unknown_outcome may duplicate objects: set it on purpose, not in the example")
			}
			for op := range fc.Limits {
				_, ok := catalog.Lookup(op)
				require.True(t, ok, "limits: %q is not an operation of the API", op)
			}
			// The file's defaults.max_wait wins over MAX_WAIT: having both
			// would leave MAX_WAIT silently unused.
			if _, ok := b.effectiveEnv(t)["MAX_WAIT"]; ok {
				require.Zero(t, fc.Defaults.MaxWait, "config.json defaults.max_wait overrides MAX_WAIT; set one of them")
			}
		}},
		{"every env var is one the worker reads", func(t *testing.T) {
			own := map[string]bool{}
			for _, e := range b.container(t).Env {
				require.False(t, own[e.Name], "%s set twice", e.Name)
				own[e.Name] = true
			}
			for _, cm := range b.envFromConfigMaps(t) {
				for k := range cm.Data {
					require.False(t, own[k], "%s is in ConfigMap %s and in env, which hides it", k, cm.Name)
				}
			}
			for name := range b.effectiveEnv(t) {
				require.True(t, workerEnv[name], "%s is not read by the worker (%s)", name, flagsFile)
			}
		}},
		{"the overlay pins the image", func(t *testing.T) {
			image := b.container(t).Image
			repo, tag, ok := strings.Cut(image, ":")
			require.True(t, ok, "image %q has no tag", image)
			require.Equal(t, "ghcr.io/onec-connect/connect-bridge", repo)
			require.NotEqual(t, "latest", tag)
		}},
		{"KEDA watches a consumer of the worker", func(t *testing.T) {
			so := b.scaledObject
			require.NotNil(t, so, "no ScaledObject")
			ref := so.Spec.ScaleTargetRef
			require.Equal(t, scaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: b.deployment.Name}, ref)
			require.Equal(t, new(int32(1)), so.Spec.MinReplicaCount)
			require.NotNil(t, so.Spec.MaxReplicaCount)
			require.GreaterOrEqual(t, *so.Spec.MaxReplicaCount, *so.Spec.MinReplicaCount)

			base, err := os.ReadFile(kedaComponent)
			require.NoError(t, err)
			var baseSO scaledObject
			require.NoError(t, decodeStrict(base, &baseSO))
			require.NotEqual(t, *baseSO.Spec.MaxReplicaCount, *so.Spec.MaxReplicaCount, "the overlay's maxReplicaCount patch did not apply")

			known := []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}
			required := known[:5]
			require.NotEmpty(t, so.Spec.Triggers)
			for _, tr := range so.Spec.Triggers {
				require.Equal(t, "nats-jetstream", tr.Type)
				for k := range tr.Metadata {
					require.Contains(t, known, k, "trigger %s: unknown metadata", tr.Name)
				}
				for _, k := range required {
					require.NotEmpty(t, tr.Metadata[k], "trigger %s: no %s", tr.Name, k)
				}
				require.Equal(t, contract.CommandStream, tr.Metadata["stream"])
				require.Equal(t, natsStreamAccount, tr.Metadata["account"], "trigger %s: not the account of the streams", tr.Name)
				op, ok := strings.CutPrefix(tr.Metadata["consumer"], "cmd-")
				require.True(t, ok, "consumer %q is not cmd-<Operation>", tr.Metadata["consumer"])
				_, ok = catalog.Lookup(op)
				require.True(t, ok, "consumer %q: %q is not an operation", tr.Metadata["consumer"], op)
				lag, err := strconv.Atoi(tr.Metadata["lagThreshold"])
				require.NoError(t, err)
				require.Positive(t, lag)

				host, port, err := net.SplitHostPort(tr.Metadata["natsServerMonitoringEndpoint"])
				require.NoError(t, err)
				require.Equal(t, strconv.Itoa(nats.Config.Monitor.Port), port, "not the chart's monitoring port")
				// KEDA asks the consumer's leader as <pod>.<endpoint>: only
				// the headless Service resolves that.
				parts := strings.Split(host, ".")
				require.GreaterOrEqual(t, len(parts), 2, "endpoint %q names no namespace", host)
				require.Equal(t, "nats-headless", parts[0])
				require.Equal(t, b.deployment.Namespace, parts[1], "NATS_URL nats://nats:4222 expects NATS in the worker's namespace")
			}
		}},
		{"the ServiceMonitor scrapes the Service's /metrics", func(t *testing.T) {
			sm := b.serviceMonitor
			require.NotNil(t, sm, "no ServiceMonitor")
			sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			require.NoError(t, err)
			require.False(t, sel.Empty())
			require.True(t, sel.Matches(labels.Set(b.service.Labels)), "ServiceMonitor selector %s, Service labels %v", sel, b.service.Labels)
			ports := map[string]bool{}
			for _, p := range b.service.Spec.Ports {
				ports[p.Name] = true
			}
			require.NotEmpty(t, sm.Spec.Endpoints)
			for _, ep := range sm.Spec.Endpoints {
				require.True(t, ports[ep.Port], "endpoint port %q is not a Service port", ep.Port)
				require.Equal(t, "/metrics", ep.Path)
			}
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

// TestNATSCredsComponent builds the example overlay with the nats-creds
// component and a creds Secret, as the overlay's comments describe.
func TestNATSCredsComponent(t *testing.T) {
	t.Parallel()
	const creds = "-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n"
	b := build(t, "test-nats-creds", map[string]string{
		"test-nats-creds/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: connect-bridge
resources:
  - ../overlays/example
components:
  - ../components/nats-creds
secretGenerator:
  - name: connect-bridge-nats-creds
    files:
      - nats.creds=nats.creds
`,
		"test-nats-creds/nats.creds": creds,
	})
	require.Equal(t, creds, string(b.requireSecretFile(t, "NATS_CREDS")))
	require.True(t, workerEnvNames(t)["NATS_CREDS"])
	// One way to authenticate: the base's user and password are gone.
	for _, e := range b.container(t).Env {
		require.NotContains(t, []string{"NATS_USER", "NATS_PASSWORD"}, e.Name, "left beside the creds file")
	}
	// The component adds to the worker; it replaces nothing.
	require.Equal(t, testPassword+"\n", string(b.requireSecretFile(t, "CONNECT_PASSWORD_FILE")))
}
