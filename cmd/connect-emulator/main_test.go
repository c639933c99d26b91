package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/proctest"
	"github.com/onec-connect/connect-bridge/internal/soap"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

// TestMain fails the run if run leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, cfg config)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "127.0.0.1:8080", cfg.Listen)
				require.Equal(t, "admin", cfg.Emulator.User)
				require.Equal(t, "admin", cfg.Emulator.Password)
				require.Equal(t, time.Hour, cfg.Emulator.Window)
				require.Nil(t, cfg.Emulator.Limits)
				require.Equal(t, "Europe/Moscow", cfg.Emulator.Location.String())
				require.Equal(t, zerolog.InfoLevel, cfg.LogLevel)
				require.Equal(t, emulator.AnswerSOAP12, cfg.Emulator.AnswerVersion)
			},
		},
		{
			name: "flags",
			args: []string{"--listen", ":9000", "--user", "u", "--password", "p", "--window", "10m",
				"--latency", "10ms-50ms", "--fail-rate", "0.1", "--drop-rate", "0.2",
				"--limit", "ClientUserEdit=3", "--limit", "*=100", "--night", "22-06", "--packet-limit", "20",
				"--seed-client-users", "5", "--tz", "Asia/Almaty", "--seed", "7", "--answer-version", "request",
				"--log-level", "debug", "--churn", "2.5", "--churn-kinds", "Specialist, Client", "--clock-offset", "-90s",
				"--seed-objects", "Specialist=3,Department=2", "--seed-objects", "Client=0",
				"--seed-history", "365", "--history-per-day", "100"},
			check: func(t *testing.T, cfg config) {
				e := cfg.Emulator
				require.Equal(t, ":9000", cfg.Listen)
				require.Equal(t, "u", e.User)
				require.Equal(t, "p", e.Password)
				require.Equal(t, 10*time.Minute, e.Window)
				require.Equal(t, 10*time.Millisecond, e.LatencyMin)
				require.Equal(t, 50*time.Millisecond, e.LatencyMax)
				require.Equal(t, 0.1, e.FailRate)
				require.Equal(t, 0.2, e.DropRate)
				require.Equal(t, map[string]int{"ClientUserEdit": 3, "*": 100}, e.Limits)
				require.Equal(t, tariff.Night{From: 22, To: 6}, e.Night)
				require.Equal(t, 20, e.PacketLimit)
				require.Equal(t, 5, cfg.SeedClientUsers)
				require.Equal(t, "Asia/Almaty", e.Location.String())
				require.Equal(t, int64(7), e.Seed)
				require.Equal(t, emulator.AnswerAsRequest, e.AnswerVersion)
				require.Equal(t, zerolog.DebugLevel, cfg.LogLevel)
				require.Equal(t, 2.5, e.Churn)
				require.Equal(t, []string{"Specialist", "Client"}, e.ChurnKinds)
				require.Equal(t, -90*time.Second, e.ClockOffset)
				require.Equal(t, []seedSpec{{"Specialist", 3}, {"Department", 2}, {"Client", 0}}, cfg.SeedObjects)
				require.Equal(t, 365, e.SeedHistory)
				require.Equal(t, 100, e.HistoryPerDay)
			},
		},
		{
			name: "environment",
			env: map[string]string{"EMULATOR_LISTEN": "0.0.0.0:80", "EMULATOR_PASSWORD": "from-env",
				"EMULATOR_LIMIT": "ClientRead=1,ClientUserEdit=2", "EMULATOR_LATENCY": "5ms"},
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "0.0.0.0:80", cfg.Listen)
				require.Equal(t, "from-env", cfg.Emulator.Password)
				require.Equal(t, map[string]int{"ClientRead": 1, "ClientUserEdit": 2}, cfg.Emulator.Limits)
				require.Equal(t, 5*time.Millisecond, cfg.Emulator.LatencyMax)
			},
		},
		{
			name: "command line beats environment",
			args: []string{"--listen", "127.0.0.1:1"},
			env:  map[string]string{"EMULATOR_LISTEN": "0.0.0.0:80"},
			check: func(t *testing.T, cfg config) {
				require.Equal(t, "127.0.0.1:1", cfg.Listen)
			},
		},
		{name: "bad latency", args: []string{"--latency", "slow"}, wantErr: "latency"},
		{name: "bad night", args: []string{"--night", "22"}, wantErr: "night"},
		{name: "bad limit", args: []string{"--limit", "ClientRead"}, wantErr: "Op=n"},
		{name: "limit given twice", args: []string{"--limit", "ClientRead=1,ClientRead=2"}, wantErr: "given twice"},
		{name: "bad env", env: map[string]string{"EMULATOR_FAIL_RATE": "often"}, wantErr: "EMULATOR_FAIL_RATE"},
		{name: "bad zone", args: []string{"--tz", "Mars/Olympus"}, wantErr: "tz"},
		{name: "bad churn", args: []string{"--churn", "often"}, wantErr: "churn"},
		{name: "bad clock offset", args: []string{"--clock-offset", "1 hour"}, wantErr: "clock-offset"},
		{name: "bad seed objects", args: []string{"--seed-objects", "Specialist"}, wantErr: "Kind=n"},
		{name: "negative seed objects", args: []string{"--seed-objects", "Specialist=-1"}, wantErr: "Kind=n"},
		{name: "bad answer version", args: []string{"--answer-version", "1.1"}, wantErr: "answer version"},
		{name: "bad seed history", env: map[string]string{"EMULATOR_SEED_HISTORY": "a year"}, wantErr: "EMULATOR_SEED_HISTORY"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

func TestHelpListsEnvironment(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := parseConfig([]string{"-help"}, func(string) string { return "" }, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, out.String(), "[EMULATOR_LISTEN]")
	require.Contains(t, out.String(), "[EMULATOR_DROP_RATE]")
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"--listen", "127.0.0.1:0", "--password", "top-secret", "--seed-client-users", "2", "--seed", "1"},
		func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	var logs proctest.Buffer
	cfg.Emulator.Logger = zerolog.New(&logs)
	addrs := make(chan net.Addr, 1)
	cfg.onListen = func(a net.Addr) { addrs <- a }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg) }()

	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not start listening")
	}
	base := "http://" + addr.String()

	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	client, err := soap.New(soap.Config{URL: base + emulator.Path, User: "admin", Password: "top-secret"})
	require.NoError(t, err)
	defer client.Close()
	callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
	defer callCancel()
	read, err := client.Call(callCtx, &soap.Request{Op: "ClientUserRead", Params: soap.Struct()})
	require.NoError(t, err)
	require.Len(t, read.Data.Table.Rows, 2, "the seeded client users")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
	client.Close()
	require.Contains(t, logs.String(), base+emulator.Path, "the endpoint is printed")
	require.NotContains(t, logs.String(), "top-secret", "the password is never logged")
	require.True(t, strings.Contains(logs.String(), `"message":"stopped"`))
}

// TestRunChurnsAndShiftsItsClock runs the command with the churn, a clock
// offset and seeded objects: the seeded objects are there at once, the
// churn adds to them while it serves, the answers' Date is the shifted
// clock, and the churn stops with the server.
func TestRunChurnsAndShiftsItsClock(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"--listen", "127.0.0.1:0", "--seed", "3", "--churn", "60000",
		"--clock-offset", "1h", "--seed-objects", "Department=2"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Emulator.Logger = zerolog.Nop()
	addrs := make(chan net.Addr, 1)
	cfg.onListen = func(a net.Addr) { addrs <- a }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not start listening")
	}
	client, err := soap.New(soap.Config{URL: "http://" + addr.String() + emulator.Path, User: "admin", Password: "admin"})
	require.NoError(t, err)
	defer client.Close()
	read := func() *soap.Response {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		defer callCancel()
		resp, err := client.Call(callCtx, &soap.Request{Op: "DepartmentRead", Params: soap.Struct()})
		require.NoError(t, err)
		return resp
	}
	first := read()
	require.GreaterOrEqual(t, len(first.Data.Table.Rows), 2, "the seeded departments")
	require.WithinDuration(t, time.Now().Add(time.Hour), first.ServerTime, 5*time.Second, "the sandbox's clock is an hour ahead")
	// 1,000 changes a second, 6% of them departments: more come soon.
	require.Eventually(t, func() bool { return len(read().Data.Table.Rows) > len(first.Data.Table.Rows) },
		10*time.Second, 20*time.Millisecond, "the churn adds departments")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
}
