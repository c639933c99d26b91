package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/daemon"
	"github.com/onec-connect/connect-bridge/internal/export"
	"github.com/onec-connect/connect-bridge/internal/feed"
	"github.com/onec-connect/connect-bridge/internal/quota"
	"github.com/onec-connect/connect-bridge/internal/tariff"
	"github.com/onec-connect/connect-bridge/internal/worker"
)

// fileConfig is the optional JSON config file: per-operation settings,
// limits, change feeds and history exports, which are awkward as flags.
//
//	{
//	  "defaults":   {"max_wait": "2s", "max_pending": 1000},
//	  "operations": {"ClientUserEdit": {"max_wait": "500ms", "max_rows": 50}},
//	  "limits":     {"ServiceRequestAdd": 40},
//	  "feeds":      [{"read": "ClientUserRead", "interval": "30s", "overlap": "60s",
//	                  "since": "2026-01-01T00:00:00Z", "filters": {"ClientID": "…"}}],
//	  "exports":    [{"op": "GetHistoryOfServiceCalls", "interval": "1h", "since": "2025-01-01T00:00:00+03:00",
//	                  "chunk": "24h", "settle": "15m", "night_backfill": true}]
//	}
type fileConfig struct {
	Defaults   worker.OpSettings            `json:"defaults"`
	Operations map[string]worker.OpSettings `json:"operations"`
	Limits     map[string]int               `json:"limits"`
	Feeds      []feed.Feed                  `json:"feeds"`
	Exports    []export.Export              `json:"exports"`
}

// byteSize is a flag of a size in bytes: 1048576, 512KiB, 64MiB, 1GiB.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

// parseBytes reads a size with an optional KiB, MiB or GiB suffix.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a size in bytes such as 64MiB, got %q", s)
	}
	return v * mult, nil
}

// usageHead is the start of -h: the subcommands.
const usageHead = `Usage: worker [flags]
       worker quota [flags]                     print the shared quota ledger of this window
       worker feeds [flags]                     print the change feeds: marker, lag, last and next poll, counts
       worker mirror get <Object> <id> [flags]  print one object's record in the mirror, as JSON
       worker mirror ls <Object> [flags]        print every object of a kind in the mirror: id, version, deleted, seen
       worker exports [flags]                   print the history exports: marker, what is left, next read, when done at the limits
       worker export rerun <Operation or export> --from <time> --to <time> [flags]
                                                read a period of history again and publish its rows (those already in
                                                CONNECT_HISTORY are dropped as duplicates); times RFC 3339, or
                                                2006-01-02[T15:04:05] in the account's zone (--quota-tz)

The subcommands take the worker's flags (NATS, --quota-tz, --feed, --export, --config). All but
export rerun only read; export rerun calls the API, from the exports' share of the shared quota.

Flags (environment variables in brackets):`

// parseFlags reads a command line of flags alone; see parseArgs.
func parseFlags(args []string, getenv func(string) string, usage io.Writer) (daemon.Config, error) {
	cfg, rest, err := parseArgs(args, getenv, usage, nil)
	if err == nil && len(rest) > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", rest)
	}
	return cfg, err
}

// parseArgs reads the command line, with environment variables as
// defaults for the flags that have them, and returns the arguments left
// after the flags; extra, when not nil, adds a subcommand's own flags.
// For -h it writes the usage to usage and returns flag.ErrHelp.
//
// Secrets (passwords, tokens, a NATS URL that may carry credentials) are
// never flag defaults, so that -h cannot show them: their variables are
// read after parsing, for the flags not given.
func parseArgs(args []string, getenv func(string) string, usage io.Writer, extra func(*flag.FlagSet)) (daemon.Config, []string, error) {
	var cfg daemon.Config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	// secretFlags maps a secret flag to its variable, applied after parsing.
	secretFlags := map[string]struct {
		p   *string
		env string
	}{}
	secret := func(p *string, name, envName, help string) {
		fs.StringVar(p, name, "", help)
		secretFlags[name] = struct {
			p   *string
			env string
		}{p, envName}
	}
	var (
		maxWait, ackWait, shutdown, window, guard time.Duration
		reserve                                   float64
		night, tz, logLevel, configFile, ops      string
		replicas, accountCap                      int
		retryUnknown, localQuota                  bool
		replyAllow, secretFields                  string
		maxDeliver, maxFieldBytes                 int
		laneBytes, processBytes, cmdMaxBytes      byteSize
		cmdMaxMsgSize                             byteSize
		cmdMaxMsgs                                int64
		limits                                    tariff.LimitFlag
		parseErr                                  error
		feeds                                     = intervalFlag{kind: "feed", form: "<Read>=<interval>", example: "ClientUserRead=30s"}
		exports                                   = intervalFlag{kind: "export", form: "<Operation>=<interval>", example: "GetHistoryOfServiceCalls=1h"}
		feedShare, exportShare                    float64
		historyMaxAge, exportLeaseTTL             time.Duration
		exportMaxResponse                         byteSize
		tombstoneTTL, changeMaxAge, leaseTTL      time.Duration
		feedMaxResponse                           byteSize
		feedChunk                                 int
		filesBucket                               string
		filesMaxObject, filesMaxBytes             byteSize
		filesOff                                  bool
	)
	// share is a part of each read's limit, 0.5 by default.
	share := func(p *float64, name, envName, usage string) {
		*p = 0.5
		if v := getenv(envName); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				parseErr = fmt.Errorf("%s=%q: %w", envName, v, err)
			}
			*p = f
		}
		fs.Float64Var(p, name, *p, usage)
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		d := def
		if v := getenv(envName); v != "" && envName != "" {
			pd, err := time.ParseDuration(v)
			if err != nil {
				parseErr = fmt.Errorf("%s=%q: %w", envName, v, err)
			}
			d = pd
		}
		fs.DurationVar(p, name, d, usage)
	}

	secret(&cfg.NATS.Server, "nats-url", "NATS_URL", "NATS server URL(s), comma-separated [NATS_URL]; empty starts an embedded JetStream server")
	fs.StringVar(&cfg.EmbeddedListen, "embedded-listen", env("EMBEDDED_LISTEN", "127.0.0.1:4222"), "address of the embedded NATS server [EMBEDDED_LISTEN]")
	fs.StringVar(&cfg.EmbeddedDir, "embedded-dir", env("EMBEDDED_DIR", "data"), "data folder of the embedded NATS server [EMBEDDED_DIR]")
	fs.StringVar(&cfg.NATS.Creds, "nats-creds", env("NATS_CREDS", ""), "NATS credentials file [NATS_CREDS]")
	fs.StringVar(&cfg.NATS.User, "nats-user", env("NATS_USER", ""), "NATS user [NATS_USER]")
	secret(&cfg.NATS.Password, "nats-password", "NATS_PASSWORD", "NATS password [NATS_PASSWORD]; never printed")
	secret(&cfg.NATS.Token, "nats-token", "NATS_TOKEN", "NATS token [NATS_TOKEN]; never printed")
	fs.StringVar(&cfg.NATS.NKey, "nats-nkey", env("NATS_NKEY", ""), "NATS nkey seed file [NATS_NKEY]")
	fs.StringVar(&cfg.NATS.TLSCert, "nats-tlscert", env("NATS_TLSCERT", ""), "NATS client certificate file [NATS_TLSCERT]")
	fs.StringVar(&cfg.NATS.TLSKey, "nats-tlskey", env("NATS_TLSKEY", ""), "NATS client key file [NATS_TLSKEY]")
	fs.StringVar(&cfg.NATS.TLSCA, "nats-tlsca", env("NATS_TLSCA", ""), "CA file that verifies the NATS server [NATS_TLSCA]")

	fs.StringVar(&cfg.ConnectURL, "connect-url", env("CONNECT_URL", "https://cus.1c-connect.com/cus/ws/PartnerWebAPI2"), "1C-Connect API endpoint [CONNECT_URL]")
	fs.StringVar(&cfg.ConnectUser, "connect-user", env("CONNECT_USER", ""), "1C-Connect API user [CONNECT_USER]")
	secret(&cfg.ConnectPassword, "connect-password", "CONNECT_PASSWORD", "1C-Connect API password [CONNECT_PASSWORD]; never printed; prefer the file")
	fs.StringVar(&cfg.ConnectPasswordFile, "connect-password-file", env("CONNECT_PASSWORD_FILE", ""), "file holding the 1C-Connect API password [CONNECT_PASSWORD_FILE]")
	fs.StringVar(&cfg.ConnectCA, "connect-ca", env("CONNECT_CA", ""), "PEM file of extra CAs for the API's TLS [CONNECT_CA]")
	fs.BoolVar(&cfg.SOAP12, "soap12", env("CONNECT_SOAP12", "") == "true", "speak SOAP 1.2 instead of 1.1 [CONNECT_SOAP12=true]")

	fs.StringVar(&cfg.HTTPListen, "http-listen", env("HTTP_LISTEN", "127.0.0.1:8081"), "address of /healthz, /readyz, /metrics [HTTP_LISTEN]; off to disable")
	dur(&maxWait, "max-wait", "MAX_WAIT", 2*time.Second, "how long a packet waits to fill before it is sent [MAX_WAIT]")
	dur(&ackWait, "ack-wait", "ACK_WAIT", 30*time.Second, "consumers' ack wait: a dead worker's commands are redelivered after it [ACK_WAIT]")
	dur(&shutdown, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 25*time.Second, "bound on the graceful shutdown [SHUTDOWN_TIMEOUT]")
	fs.IntVar(&replicas, "replicas", atoiOr(env("STREAM_REPLICAS", "1"), 1), "replicas of the streams and buckets the worker creates [STREAM_REPLICAS]")
	fs.BoolVar(&retryUnknown, "retry-unknown-outcome", false, "send …Add calls again when their outcome is unknown (may duplicate objects)")
	fs.BoolVar(&cfg.Worker.Unordered, "unordered", env("UNORDERED", "") == "true", "let every replica work on every operation at once; commands for one object may then be applied out of order [UNORDERED=true]")
	fs.StringVar(&ops, "operations", env("OPERATIONS", ""), "operations to serve, comma-separated [OPERATIONS]; default all")
	fs.StringVar(&configFile, "config", env("CONFIG_FILE", ""), "JSON file of per-operation settings, limits, feeds and exports [CONFIG_FILE]")
	fs.StringVar(&logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error [LOG_LEVEL]")

	fs.StringVar(&replyAllow, "reply-allow", env("REPLY_ALLOW", "_INBOX.>,connect.reply.>"), "subjects a command may name in Connect-Reply-To, comma-separated, NATS wildcards allowed [REPLY_ALLOW]; $-subjects and the worker's own are never allowed")
	fs.IntVar(&maxDeliver, "max-deliver", atoiOr(env("MAX_DELIVER", "10"), 10), "deliveries of a command before it is answered POISON without being read [MAX_DELIVER]")
	bytesFlag := func(p *byteSize, name, envName, def, usage string) {
		v, err := parseBytes(env(envName, def))
		if err != nil {
			parseErr = fmt.Errorf("%s: %w", envName, err)
		}
		*p = byteSize(v)
		fs.Var(p, name, usage)
	}
	bytesFlag(&laneBytes, "lane-bytes", "LANE_BYTES", "128MiB", "memory the commands held by one operation may take [LANE_BYTES]")
	bytesFlag(&processBytes, "process-bytes", "PROCESS_BYTES", "256MiB", "memory the commands held by all operations may take [PROCESS_BYTES]")
	bytesFlag(&cmdMaxBytes, "cmd-max-bytes", "CMD_MAX_BYTES", "1GiB", "size of the command stream; when full, publishes are refused [CMD_MAX_BYTES]")
	bytesFlag(&cmdMaxMsgSize, "cmd-max-msg-size", "CMD_MAX_MSG_SIZE", "1MiB", "largest command the command stream accepts [CMD_MAX_MSG_SIZE]; larger publishes are refused")
	fs.Int64Var(&cmdMaxMsgs, "cmd-max-msgs", int64(atoiOr(env("CMD_MAX_MSGS", "1000000"), 1000000)), "commands the command stream holds; when full, publishes are refused [CMD_MAX_MSGS]")
	fs.IntVar(&maxFieldBytes, "max-field-bytes", atoiOr(env("MAX_FIELD_BYTES", "0"), 0), "longest string or binary field of an operation whose parameters are not known [MAX_FIELD_BYTES]; 0 for the catalogue's default")
	fs.StringVar(&secretFields, "secret-fields", env("SECRET_FIELDS", "Password"), "fields whose values are redacted in dead letters, logs and errors, comma-separated [SECRET_FIELDS]; the catalogue's secret fields are always redacted")

	dur(&window, "quota-window", "QUOTA_WINDOW", time.Hour, "length of a quota window [QUOTA_WINDOW]")
	dur(&guard, "quota-guard", "QUOTA_GUARD", 2*time.Second, "call-free interval at each window boundary [QUOTA_GUARD]")
	fs.Float64Var(&reserve, "quota-reserve", atofOr(env("QUOTA_RESERVE", "0.1"), 0.1), "share of each limit left to the account's other clients [QUOTA_RESERVE]")
	fs.StringVar(&tz, "quota-tz", env("QUOTA_TZ", "Europe/Moscow"), "the account's time zone [QUOTA_TZ]")
	fs.StringVar(&night, "night", env("QUOTA_NIGHT", ""), "night hours HH-HH that use the night limits [QUOTA_NIGHT]; default none")
	fs.Var(&limits, "limit", "Op=calls per window, repeatable; *=n for every operation (overrides the catalogue)")
	fs.IntVar(&accountCap, "account-cap", 0, "calls of all operations together per window; 0 for none")
	fs.BoolVar(&localQuota, "local-quota", false, "keep the quota ledger in this process (a single replica only)")

	if err := feeds.setList(getenv("FEEDS")); err != nil {
		parseErr = fmt.Errorf("FEEDS: %w", err)
	}
	fs.Var(&feeds, "feed", "a change feed: <Read>=<interval>, e.g. ClientUserRead=30s; repeatable [FEEDS, comma-separated]; the read must take ChangedFrom. "+
		"The config file's feeds come first; a --feed naming one of them (by name, or by read) sets its interval and keeps its other settings; the first --feed replaces FEEDS")
	share(&feedShare, "feed-share", "FEED_SHARE", "part of each read's limit the feeds may use together, over 0 and at most 1; the rest stays for commands of the read [FEED_SHARE]")
	dur(&tombstoneTTL, "feed-tombstone-ttl", "FEED_TOMBSTONE_TTL", 30*24*time.Hour, "how long the mirror keeps a deleted object [FEED_TOMBSTONE_TTL]")
	dur(&changeMaxAge, "change-max-age", "CHANGE_MAX_AGE", 7*24*time.Hour, "how long change events stay in CONNECT_CHANGES [CHANGE_MAX_AGE]")
	dur(&leaseTTL, "feed-lease-ttl", "FEED_LEASE_TTL", 15*time.Second, "how long a replica that died keeps its feeds from the others [FEED_LEASE_TTL]")
	bytesFlag(&feedMaxResponse, "feed-max-response", "FEED_MAX_RESPONSE", "1GiB", "largest answer of a feed's read (a backfill) [FEED_MAX_RESPONSE]")
	fs.IntVar(&feedChunk, "feed-chunk", atoiOr(env("FEED_CHUNK", "256"), 256), "rows published and mirrored at a time [FEED_CHUNK]")

	if err := exports.setList(getenv("EXPORTS")); err != nil {
		parseErr = fmt.Errorf("EXPORTS: %w", err)
	}
	fs.Var(&exports, "export", "a history export: <Operation>=<interval>, e.g. GetHistoryOfServiceCalls=1h; repeatable [EXPORTS, comma-separated]; the read must take a period (PeriodFrom, PeriodTo). "+
		"The config file's exports come first; an --export naming one of them (by name, or by operation) sets its interval and keeps its other settings (since, chunk, settle, filters…); the first --export replaces EXPORTS")
	share(&exportShare, "export-share", "EXPORT_SHARE", "part of each history read's limit the exports (and reruns) may use together, over 0 and at most 1; the rest stays for commands of the read [EXPORT_SHARE]")
	dur(&historyMaxAge, "history-max-age", "HISTORY_MAX_AGE", 30*24*time.Hour, "how long exported rows stay in CONNECT_HISTORY [HISTORY_MAX_AGE]")
	bytesFlag(&exportMaxResponse, "export-max-response", "EXPORT_MAX_RESPONSE", "64MiB", "largest answer of one export read: a chunk whose answer is larger is halved and read again [EXPORT_MAX_RESPONSE]")
	dur(&exportLeaseTTL, "export-lease-ttl", "EXPORT_LEASE_TTL", 15*time.Second, "how long a replica that died keeps its exports from the others [EXPORT_LEASE_TTL]")

	fs.StringVar(&filesBucket, "files-bucket", env("FILES_BUCKET", "CONNECT_FILES"), "the Object Store bucket of files and large payloads [FILES_BUCKET]")
	bytesFlag(&filesMaxObject, "files-max-object", "FILES_MAX_OBJECT", "256MiB", "largest object a command may reference and a result may store [FILES_MAX_OBJECT]")
	bytesFlag(&filesMaxBytes, "files-max-bytes", "FILES_MAX_BYTES", "0", "cap of the files bucket; 0 for none [FILES_MAX_BYTES]")
	fs.BoolVar(&filesOff, "no-files", env("NO_FILES", "") == "true", "no files bucket: object references in commands are refused, results too large for a message are RESULT_TOO_LARGE [NO_FILES]")

	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usage)
			fmt.Fprintln(usage, usageHead)
			fs.PrintDefaults()
		}
		return cfg, nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, sf := range secretFlags {
		if !given[name] {
			*sf.p = getenv(sf.env)
		}
	}
	if parseErr != nil {
		return cfg, nil, parseErr
	}
	level, err := zerolog.ParseLevel(logLevel)
	if err != nil {
		return cfg, nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = zerolog.New(os.Stdout).Level(level).With().Timestamp().Logger()

	w := &cfg.Worker
	w.ReplyAllow = splitList(replyAllow)
	w.SecretFields = splitList(secretFields)
	w.MaxDeliver, w.MaxFieldBytes = maxDeliver, maxFieldBytes
	w.LaneBytes, w.ProcessBytes = int64(laneBytes), int64(processBytes)
	w.CommandLimits.MaxBytes, w.CommandLimits.MaxMsgs = int64(cmdMaxBytes), cmdMaxMsgs
	if cmdMaxMsgSize > 1<<31-1 {
		return cfg, nil, fmt.Errorf("--cmd-max-msg-size: at most 2 GiB")
	}
	w.CommandLimits.MaxMsgSize = int32(cmdMaxMsgSize)
	w.Defaults.MaxWait = worker.Duration(maxWait)
	w.AckWait, w.ShutdownTimeout, w.Replicas = ackWait, shutdown, replicas
	if retryUnknown {
		w.Defaults.RetryUnknownOutcome = &retryUnknown
	}
	w.Operations = splitList(ops)
	var (
		fileFeeds   []feed.Feed
		fileExports []export.Export
	)
	if configFile != "" {
		b, err := os.ReadFile(configFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("--config: %w", err)
		}
		var fc fileConfig
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		if err := d.Decode(&fc); err != nil {
			return cfg, nil, fmt.Errorf("--config %s: %w", configFile, err)
		}
		fileFeeds, fileExports = fc.Feeds, fc.Exports
		// The file's defaults win over built-in ones; a flag given on the
		// command line wins over the file.
		flagMaxWait := w.Defaults.MaxWait
		w.Defaults = fc.Defaults.Merge(w.Defaults)
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "max-wait" {
				w.Defaults.MaxWait = flagMaxWait
			}
		})
		w.Ops = fc.Operations
		if limits == nil && len(fc.Limits) > 0 {
			limits = tariff.LimitFlag{}
		}
		for op, n := range fc.Limits {
			if _, set := limits[op]; !set {
				limits[op] = n
			}
		}
	}

	cfg.Files = daemon.FilesConfig{Bucket: filesBucket, MaxObjectBytes: int64(filesMaxObject), MaxBytes: int64(filesMaxBytes), Off: filesOff}
	cfg.Feeds = daemon.FeedsConfig{
		Feeds:            mergeFeeds(fileFeeds, feeds.items),
		Share:            feedShare,
		TombstoneTTL:     tombstoneTTL,
		ChangeMaxAge:     changeMaxAge,
		MaxResponseBytes: int64(feedMaxResponse),
		Chunk:            feedChunk,
		LeaseTTL:         leaseTTL,
	}
	if feedShare == 0 {
		return cfg, nil, errors.New("--feed-share: 0 leaves the feeds no call; want more than 0 and at most 1")
	}
	cfg.Exports = daemon.ExportsConfig{
		Exports:          mergeExports(fileExports, exports.items),
		Share:            exportShare,
		HistoryMaxAge:    historyMaxAge,
		MaxResponseBytes: int64(exportMaxResponse),
		LeaseTTL:         exportLeaseTTL,
	}
	if exportShare == 0 {
		return cfg, nil, errors.New("--export-share: 0 leaves the exports no call; want more than 0 and at most 1")
	}

	loc, err := time.LoadLocation(tz)
	if err != nil {
		return cfg, nil, fmt.Errorf("--quota-tz: %w", err)
	}
	n, err := tariff.ParseNight(night)
	if err != nil {
		return cfg, nil, fmt.Errorf("--night: %w", err)
	}
	cfg.Quota = daemon.QuotaConfig{
		Windows:    quota.Windows{Length: window, Guard: guard, Location: loc, Night: n},
		Limits:     limits,
		Reserve:    reserve,
		AccountCap: accountCap,
		Local:      localQuota,
	}
	if reserve == 0 {
		cfg.Quota.Reserve = -1 // an explicit 0 means no reserve
	}
	return cfg, fs.Args(), nil
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func atoiOr(s string, def int) int {
	if v, err := strconv.Atoi(s); err == nil {
		return v
	}
	return def
}

func atofOr(s string, def float64) float64 {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v
	}
	return def
}
