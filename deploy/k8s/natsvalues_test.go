package k8s_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// natsStreamAccount is the NATS account that holds the worker's streams
// and buckets: its user logs in there, and KEDA reads consumers there.
const natsStreamAccount = "CONNECT"

// natsValues is the part of the NATS chart's values this deployment
// relies on.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool   `json:"enabled"`
				Dir     string `json:"dir"`
				PVC     struct {
					Enabled bool   `json:"enabled"`
					Size    string `json:"size"`
				} `json:"pvc"`
			} `json:"fileStore"`
		} `json:"jetstream"`
		Monitor struct {
			Enabled bool `json:"enabled"`
			Port    int  `json:"port"`
		} `json:"monitor"`
		// Merge is merged into the server's config (nats.conf) as it is,
		// but for the chart's << >> unquoting; raw here, decoded strictly
		// into natsMerge by readNATSValues.
		Merge json.RawMessage `json:"merge"`
	} `json:"config"`
	Container struct {
		Env map[string]json.RawMessage `json:"env"`
	} `json:"container"`
	NatsBox struct {
		Enabled   bool `json:"enabled"`
		Container struct {
			Env map[string]json.RawMessage `json:"env"`
		} `json:"container"`
	} `json:"natsBox"`
	ExtraResources []json.RawMessage `json:"extraResources"`

	// merge is Config.Merge decoded.
	merge natsMerge
}

// natsMerge is the NATS configuration the values merge into the chart's:
// the accounts, field for field as nats.conf names them. Strict decoding
// makes a misspelt key ("permission") fail here; the server would only
// warn and go on without it.
type natsMerge struct {
	Accounts map[string]natsAccount `json:"accounts"`
}

type natsAccount struct {
	JetStream string            `json:"jetstream,omitempty"`
	Mappings  map[string]string `json:"mappings,omitempty"`
	Users     []natsUser        `json:"users"`
	Exports   []natsExport      `json:"exports,omitempty"`
	Imports   []natsImport      `json:"imports,omitempty"`
}

type natsUser struct {
	User        string           `json:"user"`
	Password    string           `json:"password"`
	Permissions *natsPermissions `json:"permissions,omitempty"`
}

type natsPermissions struct {
	Publish   natsSubjects `json:"publish"`
	Subscribe natsSubjects `json:"subscribe"`
}

type natsSubjects struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

type natsExport struct {
	Service      string `json:"service,omitempty"`
	Stream       string `json:"stream,omitempty"`
	ResponseType string `json:"response_type,omitempty"`
}

type natsImport struct {
	Service *natsImportSource `json:"service,omitempty"`
	Stream  *natsImportSource `json:"stream,omitempty"`
	// To is the subject in the importing account, when not Subject.
	To string `json:"to,omitempty"`
}

type natsImportSource struct {
	Account string `json:"account"`
	Subject string `json:"subject"`
}

// envFromSecret is a container.env entry of the chart that is not a
// plain string.
type envFromSecret struct {
	ValueFrom corev1.EnvVarSource `json:"valueFrom"`
}

// readNATSValues reads the Helm values of the NATS chart. They are not a
// Kubernetes object and the chart has far more values than these, so
// unknown fields are allowed; names still match case-sensitively. The
// merged NATS config is decoded strictly.
func readNATSValues(t *testing.T) natsValues {
	t.Helper()
	data, err := os.ReadFile(natsValuesFile)
	require.NoError(t, err)
	j, err := yaml.YAMLToJSONStrict(data)
	require.NoError(t, err)
	var v natsValues
	require.NoError(t, kjson.UnmarshalCaseSensitivePreserveInts(j, &v))
	require.NotEmpty(t, v.Config.Merge, "config.merge is empty: no accounts, no authentication")
	strictErrs, err := kjson.UnmarshalStrict(v.Config.Merge, &v.merge)
	require.NoError(t, err, "config.merge")
	require.NoError(t, errors.Join(strictErrs...), "config.merge")
	return v
}

// natsUserOf finds a user of the values' accounts and its account.
func natsUserOf(t *testing.T, v natsValues, name string) (string, natsUser) {
	t.Helper()
	for acct, a := range v.merge.Accounts {
		for _, u := range a.Users {
			if u.User == name {
				return acct, u
			}
		}
	}
	t.Fatalf("no NATS user %q in config.merge.accounts", name)
	return "", natsUser{}
}

// passwordVar matches a password the chart leaves unquoted for the
// server to read from the environment: << $NAME >>.
var passwordVar = regexp.MustCompile(`^<< \$([A-Z][A-Z0-9_]*) >>$`)

// secretEnv decodes a chart env entry that must come from a Secret.
func secretEnv(t *testing.T, where string, raw json.RawMessage) *corev1.SecretKeySelector {
	t.Helper()
	var e envFromSecret
	strictErrs, err := kjson.UnmarshalStrict(raw, &e)
	require.NoError(t, err, "%s is not a valueFrom (a literal secret?)", where)
	require.NoError(t, errors.Join(strictErrs...), where)
	ref := e.ValueFrom.SecretKeyRef
	require.NotNil(t, ref, "%s does not come from a Secret", where)
	require.NotEmpty(t, ref.Name, where)
	require.NotEmpty(t, ref.Key, where)
	require.True(t, ref.Optional == nil || !*ref.Optional, "%s is optional: the server would start without it", where)
	return ref
}

// The permission lists of the two users, as the worker and the enqueue
// tool need them (see the comments in nats-values.yaml for why each is
// there). TestNATSAuthLive proves they are enough; these pin them, so that
// widening one is a decision made here.
var (
	wantWorkerPublish = []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.CREATE.CONNECT_CMD",
		"$JS.API.STREAM.CREATE.CONNECT_RESULT",
		"$JS.API.STREAM.CREATE.CONNECT_DLQ",
		"$JS.API.STREAM.CREATE.KV_CONNECT_OUTCOMES",
		"$JS.API.STREAM.CREATE.KV_CONNECT_QUOTA",
		"$JS.API.STREAM.CREATE.CONNECT_CHANGES",
		"$JS.API.STREAM.CREATE.KV_CONNECT_MIRROR",
		"$JS.API.STREAM.CREATE.KV_CONNECT_FEEDS",
		"$JS.API.STREAM.CREATE.KV_CONNECT_FEED_LEASES",
		"$JS.API.STREAM.CREATE.OBJ_CONNECT_FILES",
		"$JS.API.STREAM.CREATE.CONNECT_HISTORY",
		"$JS.API.STREAM.CREATE.KV_CONNECT_EXPORTS",
		"$JS.API.STREAM.CREATE.KV_CONNECT_EXPORT_LEASES",
		"$JS.API.STREAM.UPDATE.CONNECT_CMD",
		"$JS.API.STREAM.UPDATE.CONNECT_RESULT",
		"$JS.API.STREAM.UPDATE.CONNECT_DLQ",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_OUTCOMES",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_QUOTA",
		"$JS.API.STREAM.UPDATE.CONNECT_CHANGES",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_MIRROR",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_FEEDS",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_FEED_LEASES",
		"$JS.API.STREAM.UPDATE.OBJ_CONNECT_FILES",
		"$JS.API.STREAM.UPDATE.CONNECT_HISTORY",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_EXPORTS",
		"$JS.API.STREAM.UPDATE.KV_CONNECT_EXPORT_LEASES",
		"$JS.API.STREAM.INFO.CONNECT_CMD",
		"$JS.API.STREAM.INFO.KV_CONNECT_MIRROR",
		"$JS.API.CONSUMER.CREATE.CONNECT_CMD.>",
		"$JS.API.CONSUMER.MSG.NEXT.CONNECT_CMD.>",
		"$JS.API.CONSUMER.UNPIN.CONNECT_CMD.>",
		"$JS.API.CONSUMER.DELETE.CONNECT_CMD.>",
		"$JS.ACK.CONNECT_CMD.>",
		"$JS.API.STREAM.MSG.GET.CONNECT_CMD",
		"$JS.API.STREAM.MSG.DELETE.CONNECT_CMD",
		"$JS.API.DIRECT.GET.KV_CONNECT_OUTCOMES",
		"$JS.API.DIRECT.GET.KV_CONNECT_OUTCOMES.>",
		"$JS.API.DIRECT.GET.KV_CONNECT_QUOTA.>",
		"$JS.API.DIRECT.GET.KV_CONNECT_MIRROR",
		"$JS.API.DIRECT.GET.KV_CONNECT_FEEDS.>",
		"$JS.API.DIRECT.GET.KV_CONNECT_FEED_LEASES.>",
		"$JS.API.DIRECT.GET.KV_CONNECT_EXPORTS.>",
		"$JS.API.DIRECT.GET.KV_CONNECT_EXPORT_LEASES.>",
		"$JS.API.DIRECT.GET.OBJ_CONNECT_FILES.>",
		"$JS.API.CONSUMER.CREATE.OBJ_CONNECT_FILES.>",
		"$JS.API.CONSUMER.DELETE.OBJ_CONNECT_FILES.>",
		"$JS.FC.OBJ_CONNECT_FILES.>",
		"$JS.API.STREAM.PURGE.OBJ_CONNECT_FILES",
		"$O.CONNECT_FILES.>",
		"$KV.CONNECT_OUTCOMES.>",
		"$KV.CONNECT_QUOTA.>",
		"$KV.CONNECT_MIRROR.>",
		"$KV.CONNECT_FEEDS.>",
		"$KV.CONNECT_FEED_LEASES.>",
		"connect.change.>",
		"$KV.CONNECT_EXPORTS.>",
		"$KV.CONNECT_EXPORT_LEASES.>",
		"connect.history.>",
		"connect.result.>",
		"connect.dlq.>",
		"connect.reply.>",
	}
	wantWorkerSubscribe = []string{"_INBOX.>", "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CONNECT_CMD.*"}
	wantProducerPublish = []string{
		"connect.cmd.>",
		"connect.jsapi.STREAM.INFO.KV_CONNECT_OUTCOMES",
		"$JS.API.DIRECT.GET.KV_CONNECT_OUTCOMES.$KV.CONNECT_OUTCOMES.>",
		"connect.jsapi.STREAM.INFO.KV_CONNECT_QUOTA",
		"$JS.API.DIRECT.GET.KV_CONNECT_QUOTA.$KV.CONNECT_QUOTA.>",
		"connect.jsapi.STREAM.INFO.KV_CONNECT_MIRROR",
		"$JS.API.DIRECT.GET.KV_CONNECT_MIRROR.$KV.CONNECT_MIRROR.>",
	}
)

// collides reports the patterns of list that could match a subject that
// filter matches.
func collides(list []string, filter string) []string {
	var out []string
	for _, p := range list {
		if server.SubjectsCollide(p, filter) {
			out = append(out, p)
		}
	}
	return out
}

// covered reports whether every subject that pattern matches is matched
// by one of list (a literal or wildcard pattern of list equal to pattern,
// or a wider one ending in >).
func covered(list []string, pattern string) bool {
	for _, p := range list {
		if p == pattern {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, ">"); ok && strings.HasPrefix(pattern, prefix) && len(pattern) > len(prefix) {
			return true
		}
	}
	return false
}

func TestNATSValues(t *testing.T) {
	t.Parallel()
	v := readNATSValues(t)
	require.True(t, v.Config.Cluster.Enabled, "config.cluster.enabled")
	require.Equal(t, 3, v.Config.Cluster.Replicas, "config.cluster.replicas")
	require.True(t, v.Config.JetStream.Enabled, "config.jetstream.enabled")
	fsv := v.Config.JetStream.FileStore
	require.True(t, fsv.Enabled, "config.jetstream.fileStore.enabled")
	require.NotEmpty(t, fsv.Dir, "config.jetstream.fileStore.dir")
	require.True(t, fsv.PVC.Enabled, "config.jetstream.fileStore.pvc.enabled")
	size, err := resource.ParseQuantity(fsv.PVC.Size)
	require.NoError(t, err, "config.jetstream.fileStore.pvc.size")
	require.GreaterOrEqual(t, size.Cmp(resource.MustParse("1Gi")), 0, "PVC of %s is under 1Gi", fsv.PVC.Size)
	require.True(t, v.Config.Monitor.Enabled, "config.monitor.enabled: KEDA reads /jsz there")
	require.Positive(t, v.Config.Monitor.Port, "config.monitor.port")
}

func TestNATSAuth(t *testing.T) {
	t.Parallel()
	v := readNATSValues(t)
	accts := v.merge.Accounts

	checks := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"every password comes from the Secret nats-users", func(t *testing.T) {
			users := 0
			for acct, a := range accts {
				require.NotEmpty(t, a.Users, "account %s has no user", acct)
				for _, u := range a.Users {
					users++
					m := passwordVar.FindStringSubmatch(u.Password)
					require.NotNil(t, m, "user %s: password is not << $VARIABLE >> (a literal in the repo?)", u.User)
					raw, ok := v.Container.Env[m[1]]
					require.True(t, ok, "user %s: %s is not in container.env: the server would not start", u.User, m[1])
					ref := secretEnv(t, "container.env."+m[1], raw)
					require.Equal(t, "nats-users", ref.Name, "user %s", u.User)
					require.Equal(t, u.User, ref.Key, "user %s: the Secret's key is the user's name", u.User)
				}
			}
			require.GreaterOrEqual(t, users, 3, "the worker, a producer and the admin")
			// Nothing else in the server's environment: no secret literal.
			for name, raw := range v.Container.Env {
				secretEnv(t, "container.env."+name, raw)
			}
		}},
		{"the streams' account holds the worker and the admin only", func(t *testing.T) {
			a, ok := accts[natsStreamAccount]
			require.True(t, ok, "no account %s", natsStreamAccount)
			require.Equal(t, "enabled", a.JetStream)
			var names []string
			for _, u := range a.Users {
				names = append(names, u.User)
			}
			require.ElementsMatch(t, []string{"connect-worker", "connect-admin"}, names, "a producer here could write the quota ledger through reply subjects")
			for acct, o := range accts {
				if acct != natsStreamAccount {
					require.Empty(t, o.JetStream, "account %s has JetStream of its own", acct)
				}
			}
		}},
		{"the worker publishes only what it needs", func(t *testing.T) {
			_, u := natsUserOf(t, v, "connect-worker")
			require.NotNil(t, u.Permissions)
			p := u.Permissions
			require.Equal(t, wantWorkerPublish, p.Publish.Allow)
			require.Equal(t, wantWorkerSubscribe, p.Subscribe.Allow)
			require.Empty(t, p.Subscribe.Deny)
			for _, never := range []string{"connect.cmd.>", "$JS.API.STREAM.DELETE.>",
				"$JS.API.STREAM.PURGE.CONNECT_CMD", "$JS.API.STREAM.PURGE.CONNECT_RESULT", "$JS.API.STREAM.PURGE.CONNECT_DLQ",
				"$JS.API.STREAM.PURGE.CONNECT_CHANGES", "$JS.API.STREAM.PURGE.KV_CONNECT_QUOTA", "$JS.API.STREAM.PURGE.KV_CONNECT_OUTCOMES",
				"$JS.API.STREAM.MSG.DELETE.CONNECT_RESULT", "$JS.API.STREAM.MSG.DELETE.CONNECT_DLQ",
				"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_OUTCOMES", "$JS.API.STREAM.MSG.DELETE.KV_CONNECT_QUOTA",
				"$JS.API.STREAM.MSG.DELETE.CONNECT_CHANGES", "$JS.API.STREAM.MSG.DELETE.KV_CONNECT_MIRROR",
				"$JS.API.STREAM.PURGE.CONNECT_HISTORY", "$JS.API.STREAM.PURGE.KV_CONNECT_EXPORTS", "$JS.API.STREAM.PURGE.KV_CONNECT_EXPORT_LEASES",
				"$JS.API.STREAM.MSG.DELETE.CONNECT_HISTORY", "$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORTS", "$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORT_LEASES",
				"_INBOX.>", "$JS.API.ACCOUNT.>", "$SYS.>"} {
				require.Empty(t, collides(p.Publish.Allow, never), "the worker may publish %s", never)
			}
			for _, deny := range []string{"connect.cmd.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.CONNECT_CMD", "$JS.API.STREAM.PURGE.KV_*",
				"$JS.API.STREAM.PURGE.CONNECT_HISTORY", "$JS.API.STREAM.MSG.DELETE.CONNECT_HISTORY",
				"$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORTS", "$JS.API.STREAM.MSG.DELETE.KV_CONNECT_EXPORT_LEASES"} {
				require.Contains(t, p.Publish.Deny, deny)
			}
		}},
		{"the admin is the only unrestricted user", func(t *testing.T) {
			for acct, a := range accts {
				for _, u := range a.Users {
					if u.User == "connect-admin" {
						require.Equal(t, natsStreamAccount, acct)
						continue
					}
					require.NotNil(t, u.Permissions, "user %s has every right in %s", u.User, acct)
					require.NotEmpty(t, u.Permissions.Publish.Allow, "user %s may publish anything", u.User)
					require.NotEmpty(t, u.Permissions.Subscribe.Allow, "user %s may subscribe to anything", u.User)
				}
			}
		}},
		{"each producer has an account of its own", func(t *testing.T) {
			producers := 0
			for acct, a := range accts {
				if acct == natsStreamAccount {
					continue
				}
				producers++
				require.Len(t, a.Users, 1, "account %s: one service, one user; producers sharing an account share their inboxes", acct)
				u := a.Users[0]
				p := u.Permissions
				require.NotNil(t, p, "producer %s", u.User)
				if u.User == "connect-producer" {
					require.Equal(t, wantProducerPublish, p.Publish.Allow)
				}
				reply := "connect.reply." + u.User + ".>"
				require.Equal(t, []string{"_INBOX.>", reply}, p.Subscribe.Allow, "producer %s", u.User)
				for _, never := range []string{"$KV.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.CONSUMER.>", "connect.result.>", "connect.dlq.>", "connect.reply.>", "$JS.ACK.>"} {
					require.Empty(t, collides(p.Publish.Allow, never), "producer %s may publish %s", u.User, never)
				}
				for _, deny := range []string{"$KV.>", "$JS.API.STREAM.DELETE.>", "connect.result.>"} {
					require.Contains(t, p.Publish.Deny, deny, "producer %s", u.User)
				}

				// Everything it may publish reaches the streams' account
				// through an import, and it imports only its own replies.
				var services, streams []string
				for _, im := range a.Imports {
					switch {
					case im.Service != nil:
						require.Equal(t, natsStreamAccount, im.Service.Account)
						services = append(services, cmp.Or(im.To, im.Service.Subject))
					case im.Stream != nil:
						require.Equal(t, natsStreamAccount, im.Stream.Account)
						streams = append(streams, im.Stream.Subject)
					default:
						t.Fatalf("account %s: an import of neither service nor stream", acct)
					}
				}
				for _, s := range p.Publish.Allow {
					require.True(t, covered(services, s), "producer %s may publish %s, which no import carries", u.User, s)
				}
				require.Equal(t, []string{reply}, streams, "producer %s imports other replies", u.User)
				// A mapping only moves a request onto one of those imports.
				for from, to := range a.Mappings {
					require.True(t, strings.HasPrefix(from, "$JS.API."), "account %s maps %s", acct, from)
					require.True(t, covered(services, to), "account %s maps %s to %s, which no import carries", acct, from, to)
				}
			}
			require.Positive(t, producers, "no producer account")
		}},
		{"the streams' account exports nothing that writes or deletes", func(t *testing.T) {
			a := accts[natsStreamAccount]
			var services, streams []string
			for _, ex := range a.Exports {
				require.True(t, (ex.Service == "") != (ex.Stream == ""), "an export is a service or a stream")
				if ex.Service != "" {
					services = append(services, ex.Service)
				} else {
					streams = append(streams, ex.Stream)
				}
			}
			require.Equal(t, []string{"connect.reply.>"}, streams, "exported streams: the worker's inboxes carry fetched commands")
			for _, never := range []string{"$KV.>", "$JS.API.CONSUMER.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.MSG.>", "$JS.ACK.>", "connect.result.>", "connect.dlq.>", "_INBOX.>"} {
				require.Empty(t, collides(services, never), "exports %s", never)
			}
			// Every import of a producer is exported.
			for acct, o := range accts {
				for _, im := range o.Imports {
					if im.Service != nil {
						require.True(t, covered(services, im.Service.Subject), "%s imports service %s, which is not exported", acct, im.Service.Subject)
					}
					if im.Stream != nil {
						require.True(t, covered(streams, im.Stream.Subject), "%s imports stream %s, which is not exported", acct, im.Stream.Subject)
					}
				}
			}
		}},
		{"nats-box logs in as the admin, the password from a Secret", func(t *testing.T) {
			if !v.NatsBox.Enabled {
				return
			}
			var user string
			require.NoError(t, json.Unmarshal(v.NatsBox.Container.Env["NATS_USER"], &user), "natsBox.container.env.NATS_USER")
			acct, _ := natsUserOf(t, v, user)
			require.Equal(t, natsStreamAccount, acct)
			secretEnv(t, "natsBox.container.env.NATS_PASSWORD", v.NatsBox.Container.Env["NATS_PASSWORD"])
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

// renderNATSConfig writes config.merge as the chart puts it in nats.conf:
// JSON, with "<< X >>" strings unquoted to X (variables, units).
func renderNATSConfig(t *testing.T, v natsValues) []byte {
	t.Helper()
	var doc any
	require.NoError(t, json.Unmarshal(v.Config.Merge, &doc))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the chart undoes Go's \u003e for > and <
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(doc))
	out := regexp.MustCompile(`"<< (.*?) >>"`).ReplaceAll(buf.Bytes(), []byte("$1"))
	require.False(t, slices.Contains([]string{"", "null"}, strings.TrimSpace(string(out))))
	return out
}
