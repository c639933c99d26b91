// Package natsconn turns the connection settings the nats CLI takes (server
// URLs, credentials file, user and password, token, nkey, TLS files) into
// nats.go options, for the worker and the enqueue tool alike.
//
// Invariant: secrets never appear in an error or a log line; URLs are
// shown with their user information redacted.
package natsconn

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultName is the connection name a client gives when ConnFlags.Name
// is empty; the server shows it in connection listings.
const DefaultName = "connect-bridge"

// ConnFlags are the connection settings of the nats CLI, as enqueue and the
// worker take them from flags and environment variables. Secrets are never
// printed, not even in errors.
type ConnFlags struct {
	// Server is one URL or a comma-separated list of URLs. Defaults to
	// nats://127.0.0.1:4222. User info in a URL is a secret.
	Server string
	// Creds is the path of a credentials file (user JWT and nkey seed).
	Creds string
	// User and Password authenticate by user name; both or neither.
	User     string
	Password string
	// Token authenticates by token; exclusive with User, Creds and NKey.
	Token string
	// NKey is the path of an nkey user seed file.
	NKey string
	// TLSCert and TLSKey are the paths of a client certificate and its key;
	// both or neither.
	TLSCert string
	TLSKey  string
	// TLSCA is the path of the CA certificates that verify the server.
	TLSCA string
	// Name names the connection. Defaults to DefaultName.
	Name string
	// Timeout bounds the dial of one server. Defaults to 5s.
	Timeout time.Duration
}

// DefaultServer is the server ConnFlags.Server defaults to.
const DefaultServer = nats.DefaultURL

// SettingsError is a problem with the connection settings themselves (two
// ways to authenticate, a missing file): connecting again cannot help.
type SettingsError struct{ Err error }

func (e *SettingsError) Error() string { return e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

// ConnectOptions checks f and returns the options that connect with it.
// Files named by f must exist and be readable; a missing one is named by
// its path. Errors are *SettingsError and never hold a password, token or
// seed.
func ConnectOptions(f ConnFlags) ([]nats.Option, error) {
	opts, err := connectOptions(f)
	if err != nil {
		return nil, &SettingsError{Err: err}
	}
	return opts, nil
}

func connectOptions(f ConnFlags) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cmp.Or(f.Name, DefaultName)),
		nats.Timeout(cmp.Or(f.Timeout, 5*time.Second)),
	}
	// Exactly one way to authenticate: the server would pick one silently
	// and the failure would then be a puzzle.
	var methods []string
	if f.Creds != "" {
		methods = append(methods, "--creds")
	}
	if f.NKey != "" {
		methods = append(methods, "--nkey")
	}
	if f.User != "" || f.Password != "" {
		methods = append(methods, "--user/--password")
	}
	if f.Token != "" {
		methods = append(methods, "--token")
	}
	if len(methods) > 1 {
		return nil, fmt.Errorf("natsconn: %s are exclusive, give one", strings.Join(methods, ", "))
	}
	switch {
	case f.Password != "" && f.User == "":
		return nil, errors.New("natsconn: --password is set but --user is empty")
	case f.User != "" && f.Password == "":
		return nil, errors.New("natsconn: --user is set but --password is empty")
	case f.User != "":
		// Kept inside the option only: never formatted anywhere.
		opts = append(opts, nats.UserInfo(f.User, f.Password))
	case f.Token != "":
		opts = append(opts, nats.Token(f.Token))
	case f.Creds != "":
		if err := readable("creds", f.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(f.Creds))
	case f.NKey != "":
		if err := readable("nkey seed", f.NKey); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(f.NKey)
		if err != nil {
			// nats names the problem, never the seed.
			return nil, fmt.Errorf("natsconn: nkey seed file %q: %w", f.NKey, err)
		}
		opts = append(opts, o)
	}

	if (f.TLSCert == "") != (f.TLSKey == "") {
		return nil, errors.New("natsconn: --tlscert and --tlskey go together")
	}
	if f.TLSCert != "" {
		if err := readable("TLS certificate", f.TLSCert); err != nil {
			return nil, err
		}
		if err := readable("TLS key", f.TLSKey); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	if f.TLSCA != "" {
		if err := readable("TLS CA", f.TLSCA); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	return opts, nil
}

// readable checks that the file at path can be opened for reading, so that
// a typo is reported before dialling, by what the file is and its path.
func readable(what, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, below
		}
		return fmt.Errorf("natsconn: %s file %q: %w", what, path, err)
	}
	return fh.Close()
}

// Connect connects with f and extra options (appended after f's). Errors
// name the servers with their user info masked and never hold a secret.
func Connect(f ConnFlags, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := ConnectOptions(f)
	if err != nil {
		return nil, err
	}
	server := cmp.Or(f.Server, DefaultServer)
	nc, err := nats.Connect(server, append(opts, extra...)...)
	if err != nil {
		// nats.go quotes a URL that does not parse, user info included;
		// the message is rebuilt without any secret.
		return nil, &redactedError{
			msg: fmt.Sprintf("natsconn: connect %s: %s", RedactURL(server), scrub(err.Error(), f, server)),
			err: err,
		}
	}
	return nc, nil
}

// RedactURL masks the user info of each URL of a comma-separated list:
// nats://user:pass@host becomes nats://***@host. What does not parse as a
// URL is replaced whole when it has user info.
func RedactURL(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil && strings.Contains(p, "@"):
			parts[i] = "***"
		case err != nil || u.User == nil:
			parts[i] = p
		default:
			u.User = nil
			parts[i] = strings.Replace(u.String(), "://", "://***@", 1)
		}
	}
	return strings.Join(parts, ",")
}

// scrub replaces every secret of f and of the URLs' user info in msg,
// in case an error of a dependency quotes one.
func scrub(msg string, f ConnFlags, servers string) string {
	secrets := []string{f.Password, f.Token}
	for p := range strings.SplitSeq(servers, ",") {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil && strings.Contains(p, "@"):
			secrets = append(secrets, p)
		case err != nil || u.User == nil:
		case hasPassword(u.User):
			pw, _ := u.User.Password()
			secrets = append(secrets, u.User.String(), pw)
		default:
			// nats://token@host: the user name is the token.
			secrets = append(secrets, u.User.Username())
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}

// hasPassword reports whether u has a password part.
func hasPassword(u *url.Userinfo) bool {
	_, ok := u.Password()
	return ok
}

// redactedError is an error whose message was scrubbed of secrets; it
// still unwraps to the original for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
