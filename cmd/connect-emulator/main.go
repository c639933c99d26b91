// Command connect-emulator serves the sandbox PartnerWebAPI2 (package
// internal/emulator) over HTTP, for `make run`, demos and end-to-end tests
// of the worker. Every flag can also be set by the environment variable in
// brackets in -help; a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the account's zone must load on hosts without tzdata

	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/emulator"
	"github.com/onec-connect/connect-bridge/internal/tariff"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect-emulator:", err)
		os.Exit(2)
	}
	cfg.Emulator.Logger = zerolog.New(os.Stdout).Level(cfg.LogLevel).With().Timestamp().Logger()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		cfg.Emulator.Logger.Error().Err(err).Msg("connect-emulator failed")
		os.Exit(1)
	}
}

// config is what the flags and environment configure.
type config struct {
	// Listen is the TCP address to serve on.
	Listen string
	// Emulator configures the sandbox; its Logger is set by main.
	Emulator emulator.Config
	// SeedClientUsers is the number of client users created at start.
	SeedClientUsers int
	// SeedObjects are more objects created at start, by kind, in the
	// order given (emulator.Server.SeedObjects).
	SeedObjects []seedSpec
	// LogLevel is the least level logged.
	LogLevel zerolog.Level
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// onListen, when set, is told the address once the server listens
	// (tests listen on port 0).
	onListen func(net.Addr)
}

// seedSpec is one --seed-objects setting: n objects of a kind.
type seedSpec struct {
	Kind string
	N    int
}

// seedFlag reads --seed-objects: Kind=n, comma-separated or repeated.
type seedFlag []seedSpec

func (f *seedFlag) String() string {
	parts := make([]string, len(*f))
	for i, s := range *f {
		parts[i] = s.Kind + "=" + strconv.Itoa(s.N)
	}
	return strings.Join(parts, ",")
}

func (f *seedFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		kind, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(num)
		if !ok || kind == "" || err != nil || n < 0 {
			return fmt.Errorf("%q: want Kind=n, e.g. Specialist=50", part)
		}
		*f = append(*f, seedSpec{Kind: kind, N: n})
	}
	return nil
}

// envPrefix prefixes the environment variable of each flag: --fail-rate
// is EMULATOR_FAIL_RATE.
const envPrefix = "EMULATOR_"

// parseConfig reads args and, for flags not on the command line, the
// environment through getenv. Help and usage go to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	cfg := config{ShutdownTimeout: 10 * time.Second}
	fs := flag.NewFlagSet("connect-emulator", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		latency, night, tz, level, answer string
		limits                            tariff.LimitFlag
		seeds                             seedFlag
		e                                 = &cfg.Emulator
	)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "TCP address to serve on")
	fs.StringVar(&e.User, "user", "admin", "HTTP Basic user the SOAP endpoint accepts")
	fs.StringVar(&e.Password, "password", "admin", "HTTP Basic password the SOAP endpoint accepts (never logged)")
	fs.DurationVar(&e.Window, "window", time.Hour, "length of a limit window, aligned to the Unix epoch")
	fs.StringVar(&latency, "latency", "", `latency before each answer: "20ms" fixed or "10ms-50ms" random`)
	fs.Float64Var(&e.FailRate, "fail-rate", 0, "share (0-1) of calls answered HTTP 500 before processing")
	fs.Float64Var(&e.DropRate, "drop-rate", 0, "share (0-1) of calls whose connection is cut after processing")
	fs.Var(&limits, "limit", "calls per window of an operation, Op=n (repeatable; *=n sets every operation)")
	fs.StringVar(&night, "night", "", `hours with the catalogue's night limits, "HH-HH" (e.g. 22-06); default none`)
	fs.IntVar(&e.PacketLimit, "packet-limit", 0, "most rows per packet, overriding the catalogue when above 0")
	fs.IntVar(&cfg.SeedClientUsers, "seed-client-users", 0, "client users to create at start")
	fs.Var(&seeds, "seed-objects", "more objects to create at start, Kind=n (Client, ClientUser, Specialist, Department, ClientDepartment, ServiceLineKind; repeatable)")
	fs.IntVar(&e.SeedHistory, "seed-history", 0, "days of generated history (calls, treatments, chats, sessions…) the history and statistics reads answer (0: none)")
	fs.IntVar(&e.HistoryPerDay, "history-per-day", 0, "events a day of every generated history (0: each read's own, 4 to 40)")
	fs.Float64Var(&e.Churn, "churn", 0, "changes per minute the sandbox makes on its own, as people in the web cabinet would (0: none)")
	fs.Func("churn-kinds", "the kinds the churn changes, comma-separated (default: all of ClientUser, Specialist, UserServiceLine, Client, ClientDepartment, Department, Competence, ServiceLineKind)", func(v string) error {
		for k := range strings.SplitSeq(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				e.ChurnKinds = append(e.ChurnKinds, k)
			}
		}
		return nil
	})
	fs.DurationVar(&e.ClockOffset, "clock-offset", 0, "shift of the sandbox's clock (change times, windows, ChangedFrom, the Date header), e.g. 90s or -2m")
	fs.StringVar(&tz, "tz", "Europe/Moscow", "the account's time zone")
	fs.Int64Var(&e.Seed, "seed", 0, "seed of the random source (0: from the clock)")
	fs.StringVar(&answer, "answer-version", "1.2", `SOAP version of answers: "1.2" (like the real service) or "request"`)
	fs.StringVar(&level, "log-level", "info", "least log level: debug, info, warn, error")
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " [" + envName(f.Name) + "]" })

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !onCommandLine[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), serr)
			}
		}
	})
	if err != nil {
		return cfg, err
	}

	if e.LatencyMin, e.LatencyMax, err = emulator.ParseLatency(latency); err != nil {
		return cfg, err
	}
	if e.Night, err = tariff.ParseNight(night); err != nil {
		return cfg, err
	}
	if len(limits) > 0 {
		e.Limits = limits
	}
	if e.Location, err = time.LoadLocation(tz); err != nil {
		return cfg, fmt.Errorf("tz: %w", err)
	}
	if cfg.LogLevel, err = zerolog.ParseLevel(level); err != nil {
		return cfg, fmt.Errorf("log level: %w", err)
	}
	switch answer {
	case "1.2":
		e.AnswerVersion = emulator.AnswerSOAP12
	case "request":
		e.AnswerVersion = emulator.AnswerAsRequest
	default:
		return cfg, fmt.Errorf(`answer version %q: want "1.2" or "request"`, answer)
	}
	if cfg.SeedClientUsers < 0 {
		return cfg, fmt.Errorf("seed client users: %d is negative", cfg.SeedClientUsers)
	}
	cfg.SeedObjects = seeds
	return cfg, nil
}

// envName returns the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// run serves the emulator until ctx ends, then shuts down gracefully.
func run(ctx context.Context, cfg config) error {
	log := cfg.Emulator.Logger
	srv, err := emulator.New(cfg.Emulator)
	if err != nil {
		return err
	}
	if cfg.SeedClientUsers > 0 {
		ids := srv.SeedClientUsers(cfg.SeedClientUsers)
		log.Info().Int("client_users", len(ids)).Str("client_id", emulator.SeedClientID).
			Str("first_id", ids[0]).Str("last_id", ids[len(ids)-1]).Msg("seeded client users")
	}
	for _, sp := range cfg.SeedObjects {
		ids, err := srv.SeedObjects(sp.Kind, sp.N)
		if err != nil {
			return err
		}
		log.Info().Str("kind", sp.Kind).Int("objects", len(ids)).Msg("seeded objects")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests see ctx end on shutdown, so that simulated latency
		// stops waiting and in-flight calls are answered at once.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	// The churn stops with the server: when ctx ends, or when serving
	// fails.
	cctx, stopChurn := context.WithCancel(ctx)
	churned := make(chan error, 1)
	go func() { churned <- srv.Run(cctx) }()
	defer func() {
		stopChurn()
		<-churned // Run returns nil once its context ends
	}()

	base := "http://" + ln.Addr().String()
	e := cfg.Emulator
	log.Info().Str("endpoint", base+emulator.Path).Str("wsdl", base+emulator.Path+"?wsdl").
		Str("stats", base+"/stats").Str("user", e.User).Dur("window", e.Window).
		Dur("latency_min", e.LatencyMin).Dur("latency_max", e.LatencyMax).
		Float64("fail_rate", e.FailRate).Float64("drop_rate", e.DropRate).
		Str("limits", tariff.FormatLimits(e.Limits)).Str("night", e.Night.String()).
		Int("packet_limit", e.PacketLimit).Str("tz", e.Location.String()).
		Float64("churn_per_minute", e.Churn).Dur("clock_offset", e.ClockOffset).
		Int("seed_history_days", e.SeedHistory).Int("history_per_day", e.HistoryPerDay).
		Msg("connect-emulator listening")
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}
