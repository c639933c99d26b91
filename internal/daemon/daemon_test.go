package daemon_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/daemon"
	"github.com/onec-connect/connect-bridge/internal/natsconn"
	"github.com/onec-connect/connect-bridge/internal/natstest"
	"github.com/onec-connect/connect-bridge/internal/quota"
)

func TestPrintQuotaShowsTheSharedLedger(t *testing.T) {
	srv := natstest.Server(t)
	_, js := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()
	windows := quota.Windows{Length: time.Hour, Guard: -1, Location: quota.MoscowTime()}
	limits := map[string]int{"ClientUserEdit": 40}
	q, err := quota.NewShared(ctx, quota.SharedConfig{JetStream: js, Config: quota.Config{
		Windows: windows,
		Limits:  quota.Limits{Catalogue: catalog.HourlyLimits, Override: limits, Reserve: -1},
	}})
	require.NoError(t, err)
	now := time.Now()
	for range 3 {
		g, err := q.Take(ctx, "ClientUserEdit", now)
		require.NoError(t, err)
		require.True(t, g.OK)
	}
	require.NoError(t, q.Exhausted(ctx, "ServiceRequestAdd", now))

	var out bytes.Buffer
	cfg := daemon.Config{
		NATS:  natsconn.ConnFlags{Server: srv.ClientURL()},
		Quota: daemon.QuotaConfig{Windows: windows, Limits: limits, Reserve: -1},
	}
	require.NoError(t, daemon.PrintQuota(ctx, cfg, &out))
	text := out.String()
	lines := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	require.Contains(t, text, "window ")
	require.Regexp(t, `ClientUserEdit\s+40\s+3\s+37\s+open`, lines["ClientUserEdit"])
	require.Regexp(t, `ServiceRequestAdd\s+\d+\s+0\s+0\s+OUT_OF_LIMIT`, lines["ServiceRequestAdd"])
	require.Contains(t, text, "85 other operations made no call in this window.")
}

func TestRunRefusesBadSettings(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := daemon.Run(ctx, daemon.Config{ConnectPassword: "x", ConnectPasswordFile: "/nonexistent"})
	require.ErrorContains(t, err, "not both")
	err = daemon.Run(ctx, daemon.Config{ConnectPasswordFile: "/nonexistent/secret"})
	require.ErrorContains(t, err, "password file")
	err = daemon.Run(ctx, daemon.Config{})
	require.ErrorContains(t, err, "connect-url")
	// Quota settings no bucket can fix are refused before anything starts,
	// not retried.
	err = daemon.Run(ctx, daemon.Config{ConnectURL: "http://127.0.0.1:1", Quota: daemon.QuotaConfig{Limits: map[string]int{"ClientUserEditt": 5}}})
	require.ErrorContains(t, err, `unknown operation "ClientUserEditt"`)
	err = daemon.Run(ctx, daemon.Config{ConnectURL: "http://127.0.0.1:1", Quota: daemon.QuotaConfig{Reserve: 0.95}})
	require.ErrorContains(t, err, "reserve")
}
