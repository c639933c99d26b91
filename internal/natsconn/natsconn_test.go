package natsconn_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	natsservertest "github.com/nats-io/nats-server/v2/test"
	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/natsconn"
)

// Secrets the tests give; no error may hold them.
const (
	password = "pa55-w0rd-secret"
	token    = "t0ken-secret"
)

func TestConnectOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	require.NoError(t, os.WriteFile(present, []byte("not a real file"), 0o600))
	missing := filepath.Join(dir, "missing.creds")

	tests := []struct {
		name    string
		flags   natsconn.ConnFlags
		wantErr string // empty: no error
	}{
		{name: "no auth", flags: natsconn.ConnFlags{}},
		{name: "user and password", flags: natsconn.ConnFlags{User: "u", Password: password}},
		{name: "token", flags: natsconn.ConnFlags{Token: token}},
		{name: "creds file", flags: natsconn.ConnFlags{Creds: present}},
		{name: "tls files", flags: natsconn.ConnFlags{TLSCert: present, TLSKey: present, TLSCA: present}},
		{name: "token and user", flags: natsconn.ConnFlags{Token: token, User: "u", Password: password},
			wantErr: "--user/--password, --token are exclusive"},
		{name: "token and creds", flags: natsconn.ConnFlags{Token: token, Creds: present},
			wantErr: "--creds, --token are exclusive"},
		{name: "password without user", flags: natsconn.ConnFlags{Password: password},
			wantErr: "--password is set but --user is empty"},
		{name: "user without password", flags: natsconn.ConnFlags{User: "u"},
			wantErr: "--user is set but --password is empty"},
		{name: "creds file missing", flags: natsconn.ConnFlags{Creds: missing},
			wantErr: fmt.Sprintf("creds file %q: no such file or directory", missing)},
		{name: "nkey file missing", flags: natsconn.ConnFlags{NKey: missing},
			wantErr: fmt.Sprintf("nkey seed file %q: no such file or directory", missing)},
		{name: "nkey file not a seed", flags: natsconn.ConnFlags{NKey: present},
			wantErr: fmt.Sprintf("nkey seed file %q", present)},
		{name: "tls cert without key", flags: natsconn.ConnFlags{TLSCert: present},
			wantErr: "--tlscert and --tlskey go together"},
		{name: "tls key missing", flags: natsconn.ConnFlags{TLSCert: present, TLSKey: missing},
			wantErr: fmt.Sprintf("TLS key file %q", missing)},
		{name: "tls ca missing", flags: natsconn.ConnFlags{TLSCA: missing},
			wantErr: fmt.Sprintf("TLS CA file %q", missing)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, err := natsconn.ConnectOptions(tc.flags)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NotEmpty(t, opts)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), password)
			require.NotContains(t, err.Error(), token)
		})
	}
}

func TestConnectKeepsSecrets(t *testing.T) {
	t.Parallel()
	opts := natsservertest.DefaultTestOptions
	opts.Port = -1
	opts.Authorization = token
	srv := natsservertest.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	hostPort := strings.TrimPrefix(srv.ClientURL(), "nats://")

	t.Run("right token", func(t *testing.T) {
		nc, err := natsconn.Connect(natsconn.ConnFlags{Server: srv.ClientURL(), Token: token})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		require.Equal(t, natsconn.DefaultName, nc.Opts.Name)
	})

	tests := []struct {
		name   string
		flags  natsconn.ConnFlags
		secret string
	}{
		{name: "wrong token", flags: natsconn.ConnFlags{Server: srv.ClientURL(), Token: "wr0ng-" + token}, secret: "wr0ng-" + token},
		{name: "wrong password", flags: natsconn.ConnFlags{Server: srv.ClientURL(), User: "u", Password: password}, secret: password},
		{name: "password in the URL", flags: natsconn.ConnFlags{Server: "nats://usr:" + password + "@" + hostPort}, secret: password},
		{name: "token in the URL", flags: natsconn.ConnFlags{Server: "nats://wr0ng-" + token + "@" + hostPort}, secret: "wr0ng-" + token},
		{name: "URL that does not parse", flags: natsconn.ConnFlags{Server: "nats://usr:" + password + "@" + hostPort + ":x"}, secret: password},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := natsconn.Connect(tc.flags)
			require.Error(t, err)
			require.NotContains(t, err.Error(), tc.secret)
			require.Contains(t, err.Error(), "natsconn: connect ")
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://u:p@h:4222", "nats://***@h:4222"},
		{"nats://tok@h:4222, nats://h2:4222", "nats://***@h:4222,nats://h2:4222"},
		{"nats://u:p@h:4222:x", "***"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, natsconn.RedactURL(tc.in))
		})
	}
}
