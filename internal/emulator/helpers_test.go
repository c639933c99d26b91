package emulator_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// TestMain fails the run if a test leaves a goroutine behind: the
// emulator starts none, and every test closes its servers and clients.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// msk is the account's zone in tests: fixed, so that tests do not depend
// on the time zone database.
var msk = time.FixedZone("MSK", 3*60*60)

// t0 is the start of the fake clock: a Monday morning in Moscow, half past
// an hour, so that window alignment shows.
var t0 = time.Date(2024, 2, 26, 10, 30, 0, 0, msk)

// clock is a fake clock tests advance by hand.
type clock struct {
	mu  sync.Mutex // protects now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// bundle is what setup returns: an emulator served over real HTTP, a
// client of it, and the emulator's clock.
type bundle struct {
	srv    *emulator.Server
	ts     *httptest.Server
	url    string // the SOAP endpoint
	client *soap.Client
	clock  *clock
}

// setup starts an emulator for cfg with a fake clock at t0, seed 1 and
// the Moscow zone (unless cfg sets them), and a SOAP 1.1 client of it.
func setup(t *testing.T, cfg emulator.Config) *bundle {
	t.Helper()
	c := &clock{now: t0}
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Location == nil {
		cfg.Location = msk
	}
	srv, err := emulator.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b := &bundle{srv: srv, ts: ts, url: ts.URL + emulator.Path, clock: c}
	b.client = b.newClient(t, soap.SOAP11, "admin", "admin")
	return b
}

// newClient returns a client of the bundle's emulator, closed at cleanup.
func (b *bundle) newClient(t *testing.T, v soap.Version, user, password string) *soap.Client {
	t.Helper()
	c, err := soap.New(soap.Config{URL: b.url, User: user, Password: password, Version: v})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// call sends a Params request through the bundle's client.
func (b *bundle) call(t *testing.T, op string, params soap.Value) (*soap.Response, error) {
	t.Helper()
	return callWith(t, b.client, &soap.Request{Op: op, Params: params})
}

// mustCall sends a Params request that must succeed.
func (b *bundle) mustCall(t *testing.T, op string, params soap.Value) *soap.Response {
	t.Helper()
	resp, err := b.call(t, op, params)
	require.NoError(t, err)
	return resp
}

// plain sends a request of plain child elements, given as name, value
// pairs of strings.
func (b *bundle) plain(t *testing.T, op string, kv ...string) (*soap.Response, error) {
	t.Helper()
	children := []soap.Property{}
	for i := 0; i+1 < len(kv); i += 2 {
		children = append(children, soap.Property{Name: kv[i], Value: soap.String(kv[i+1])})
	}
	return callWith(t, b.client, &soap.Request{Op: op, Children: children})
}

func callWith(t *testing.T, c *soap.Client, req *soap.Request) (*soap.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, req)
}

// obj returns a Structure of name, value pairs.
func obj(kv ...any) soap.Value {
	var props []soap.Property
	for i := 0; i+1 < len(kv); i += 2 {
		props = append(props, soap.Property{Name: kv[i].(string), Value: kv[i+1].(soap.Value)})
	}
	return soap.Struct(props...)
}

// packet returns a ValueTable of the columns and rows, each column typed
// by its first non-nil cell, as a client encodes a packet.
func packet(cols []string, rows ...[]soap.Value) soap.Value {
	t := &soap.Table{Columns: make([]soap.Column, len(cols)), Rows: rows}
	for j, name := range cols {
		t.Columns[j].Name = name
		for _, row := range rows {
			if !row[j].IsNil() {
				t.Columns[j].Type = soap.TypeOf(row[j].Kind)
				break
			}
		}
	}
	return soap.TableValue(t)
}

// userRow is a ClientUserEdit row that passes validation.
func userRow(id, name string) []soap.Value {
	return []soap.Value{soap.String(id), soap.String(name), soap.String("pw"),
		soap.String("+7 900 000-00-00"), soap.String("user@example.com")}
}

// userCols are the columns of userRow.
var userCols = []string{"ClientUserID", "Name", "Password", "Phone", "EMail"}

// userEdit is a ClientUserEdit Structure for one user.
func userEdit(id, name string) soap.Value {
	row := userRow(id, name)
	kv := make([]any, 0, 2*len(row))
	for i, v := range row {
		kv = append(kv, userCols[i], v)
	}
	return obj(kv...)
}

// rows returns the rows of a read's answer as maps by column name.
func rows(t *testing.T, resp *soap.Response) []map[string]any {
	t.Helper()
	require.Equal(t, soap.KindTable, resp.Data.Kind, "ResultData of %s", resp.Op)
	return resp.Data.Table.Maps()
}

// columns returns the column names of a read's answer.
func columns(t *testing.T, resp *soap.Response) []string {
	t.Helper()
	require.Equal(t, soap.KindTable, resp.Data.Kind, "ResultData of %s", resp.Op)
	var names []string
	for _, c := range resp.Data.Table.Columns {
		names = append(names, c.Name)
	}
	return names
}
