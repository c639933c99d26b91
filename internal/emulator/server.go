package emulator

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/onec-connect/connect-bridge/internal/catalog"
	"github.com/onec-connect/connect-bridge/internal/soap"
)

// Server is the sandbox PartnerWebAPI2. It is an http.Handler serving the
// SOAP endpoint at Path (POST; GET ?wsdl for the WSDL), /stats and
// /healthz. It starts no goroutines (Run, the churn, runs in its
// caller's); all its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log zerolog.Logger
	mux *http.ServeMux

	// mu protects everything below: the store, the limit windows and
	// overrides, the statistics and the random source. A SOAP call holds
	// it from the limit check to the end of processing, so calls apply
	// atomically in some order, as if the service ran them one by one.
	mu      sync.Mutex
	tables  map[string]*table   // stored objects by kind name
	applied map[string][]string // ids touched by successful rows, by operation
	seeded  int                 // client users created by SeedClientUsers
	logins  int                 // specialist logins assigned
	limits  map[string]int      // runtime overrides of cfg.Limits, "*" included
	ops     map[string]*opStats // per-operation windows and counters
	stats   Stats               // totals that are not per operation
	rng     *rand.Rand
	// The churn's own random source, so that the API's draws (latency,
	// failures, ids of Adds) do not move its changes, and its counters.
	churnRng *rand.Rand
	churned  map[string]ChurnCounts
	churning bool      // the churn is making changes: count them
	churnAt  time.Time // when the churn's changes under way are made (Config.Now)
	made     int       // objects made by the cabinet's changes, for their names

	// running is set while Run runs: one churn at a time.
	running atomic.Bool

	// history is the generated history (Config.SeedHistory); read-only.
	history *history
}

// opStats counts the calls of one operation.
type opStats struct {
	window   int64 // index of the current window since the epoch
	accepted int   // calls accepted in the current window

	// Totals since start; see Stats.
	calls, rows, rowErrors, outOfLimit, maxInWindow int
}

// Stats are the emulator's counters since start; GET /stats serves them
// as JSON.
type Stats struct {
	// Calls are the calls that reached each operation, OUT_OF_LIMIT ones
	// included (not injected failures, faults or refused credentials).
	Calls map[string]int `json:"calls"`
	// Rows are, per operation, the objects processed by writes (packet
	// rows, or 1 for a Structure) and the rows answered by reads.
	Rows map[string]int `json:"rows"`
	// RowErrors are the objects whose result was not SUCCESS.
	RowErrors map[string]int `json:"row_errors"`
	// OutOfLimit are the calls answered OUT_OF_LIMIT.
	OutOfLimit map[string]int `json:"out_of_limit"`
	// MaxCallsInWindow is the most calls accepted (not OUT_OF_LIMIT) in
	// any one limit window.
	MaxCallsInWindow map[string]int `json:"max_calls_in_window"`
	// FailedInjected counts calls answered with an injected HTTP 500.
	FailedInjected int `json:"failed_injected"`
	// Dropped counts calls processed whose connection was then cut.
	Dropped int `json:"dropped"`
	// Faults counts SOAP Faults: malformed requests, wrong namespace,
	// unknown operations, periods longer than a read's bound.
	Faults int `json:"faults"`
	// Unauthorized counts requests refused with HTTP 401.
	Unauthorized int `json:"unauthorized"`
	// Churn counts, by kind of object, the changes Run made on its own
	// (Config.Churn).
	Churn map[string]ChurnCounts `json:"churn"`
}

// New returns a Server for cfg, with zero fields set to their defaults,
// its reference lists filled and no other object stored.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "emulator").Logger(),
		tables:  map[string]*table{},
		applied: map[string][]string{},
		limits:  map[string]int{},
		ops:     map[string]*opStats{},
		// The stream constant is fixed: the seed alone decides the draws.
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed_1c_c0_11ec7)),
		churnRng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xc4a2_7e_ca_b1e7)),
		churned:  map[string]ChurnCounts{},
		history:  newHistory(cfg, cfg.Now()),
	}
	// Reference lists have two columns: the id, then the name.
	now := s.stamp(cfg.Now())
	for name, rows := range referenceRows {
		k := kinds[name]
		for _, row := range rows {
			s.insert(k, row[0], map[string]soap.Value{k.cols[0].name: soap.String(row[0]), k.cols[1].name: soap.String(row[1])}, now)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+Path, s.serveSOAP)
	s.mux.HandleFunc("GET "+Path, s.serveWSDL)
	s.mux.HandleFunc("GET /stats", s.serveStats)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return s, nil
}

// ServeHTTP serves the emulator's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setDate(w)
	s.mux.ServeHTTP(w, r)
}

// setDate sets the Date header of an answer from the sandbox's clock
// (Config.Now, shifted by Config.ClockOffset): net/http would write the
// real clock's.
func (s *Server) setDate(w http.ResponseWriter) {
	w.Header().Set("Date", s.cfg.Now().UTC().Format(http.TimeFormat))
}

// SetLimit sets the calls per window of op ("*" for every operation
// without a setting of its own) from now on, at all hours. A negative n
// removes the runtime setting, back to Config.Limits and the catalogue.
// Calls already accepted in the current window still count.
func (s *Server) SetLimit(op string, n int) error {
	if _, ok := catalog.Lookup(op); !ok && op != "*" {
		return fmt.Errorf("emulator: set limit: unknown operation %q", op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		delete(s.limits, op)
	} else {
		s.limits[op] = n
	}
	return nil
}

// Limit returns the calls per window op is allowed at the configured
// clock's current time.
func (s *Server) Limit(op string) (int, error) {
	o, ok := catalog.Lookup(op)
	if !ok {
		return 0, fmt.Errorf("emulator: limit: unknown operation %q", op)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limitOf(o, s.cfg.Now()), nil
}

// limitOf returns op's limit at now. The most specific setting wins: the
// operation's own (runtime, then Config), then "*" (runtime, then
// Config), then the catalogue's day or night limit by the hour in the
// account's zone. Callers hold s.mu.
func (s *Server) limitOf(op *catalog.Operation, now time.Time) int {
	for _, name := range [...]string{op.Name, "*"} {
		if n, ok := s.limits[name]; ok {
			return n
		}
		if n, ok := s.cfg.Limits[name]; ok {
			return n
		}
	}
	return op.Limit(s.cfg.Night.Contains(now.In(s.cfg.Location).Hour()))
}

// admit counts a call of op at now and reports whether its window still
// had room. Callers hold s.mu.
func (s *Server) admit(op *catalog.Operation, now time.Time) bool {
	st := s.opStats(op.Name)
	// Floor division, so that windows stay aligned before the epoch too.
	w := now.UnixNano() / int64(s.cfg.Window)
	if now.UnixNano()%int64(s.cfg.Window) < 0 {
		w--
	}
	if w != st.window {
		st.window, st.accepted = w, 0
	}
	st.calls++
	if st.accepted >= s.limitOf(op, now) {
		st.outOfLimit++
		return false
	}
	st.accepted++
	st.maxInWindow = max(st.maxInWindow, st.accepted)
	return true
}

// addRows counts n rows answered by op, drawn after the call.
func (s *Server) addRows(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opStats(op).rows += n
}

func (s *Server) opStats(op string) *opStats {
	st := s.ops[op]
	if st == nil {
		st = &opStats{window: -1 << 62}
		s.ops[op] = st
	}
	return st
}

// Stats returns a copy of the counters since start.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Calls, out.Rows, out.RowErrors = map[string]int{}, map[string]int{}, map[string]int{}
	out.OutOfLimit, out.MaxCallsInWindow = map[string]int{}, map[string]int{}
	out.Churn = maps.Clone(s.churned)
	for op, st := range s.ops {
		out.Calls[op] = st.calls
		out.Rows[op] = st.rows
		out.RowErrors[op] = st.rowErrors
		out.OutOfLimit[op] = st.outOfLimit
		out.MaxCallsInWindow[op] = st.maxInWindow
	}
	return out
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Stats())
}

// serveWSDL answers GET Path?wsdl with the catalogue's WSDL, whose
// address is the endpoint the request came to.
func (s *Server) serveWSDL(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if !hasQueryKey(r, "wsdl") {
		http.Error(w, "PartnerWebAPI2: POST SOAP requests here; GET "+Path+"?wsdl for the WSDL", http.StatusBadRequest)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(catalog.WSDL(scheme + "://" + r.Host + Path))
}

// hasQueryKey reports whether the query has key, in any case (?wsdl, ?WSDL).
func hasQueryKey(r *http.Request, key string) bool {
	for k := range r.URL.Query() {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// authorized checks HTTP Basic credentials, answering 401 when they are
// missing or wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	// Compare both in constant time, whatever the first comparison says.
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User))
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password))
	if ok && okUser&okPass == 1 {
		return true
	}
	s.bump(&s.stats.Unauthorized)
	w.Header().Set("WWW-Authenticate", `Basic realm="PartnerWebAPI2", charset="UTF-8"`)
	http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
	return false
}

// serveSOAP runs one SOAP call: credentials, body, injected failure,
// decoding, limit, processing, latency, then the answer or an injected
// cut connection.
func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	start := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", s.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		// The client went away while sending: nobody to answer.
		return
	}
	if s.roll(s.cfg.FailRate) {
		// Before decoding: the call is neither counted nor applied.
		s.bump(&s.stats.FailedInjected)
		s.delay(r.Context())
		http.Error(w, "500 Internal Server Error (injected by the emulator)", http.StatusInternalServerError)
		return
	}
	v, resp, ans, fault := s.handle(r, body)
	s.delay(r.Context())
	if s.roll(s.cfg.DropRate) {
		// After processing: applied and counted, but never answered.
		s.bump(&s.stats.Dropped)
		s.log.Debug().Str("op", resp.Op).Msg("connection dropped after processing")
		drop(w)
		return
	}
	s.setDate(w) // the time of the answer, after processing and latency
	if ans != nil {
		// A read of stored objects is written as it is encoded.
		w.Header().Set("Content-Type", contentType(v))
		w.WriteHeader(http.StatusOK)
		if err := ans.write(w, v, resp.Op); err != nil {
			// The names were checked when stored: the client went away.
			s.log.Debug().Err(err).Str("op", resp.Op).Msg("answer not written")
		}
		if _, drawn := ans.(*historyAnswer); drawn {
			// A history's rows are known once drawn; a stored read's were
			// counted with the call.
			s.addRows(resp.Op, ans.count())
		}
		s.log.Debug().Str("op", resp.Op).Str("code", resp.Code).Int("rows", ans.count()).
			Dur("took", time.Since(start)).Msg("call")
		return
	}
	var b bytes.Buffer
	status := http.StatusOK
	// Writing to a bytes.Buffer cannot fail; only an answer the emulator
	// built wrongly makes EncodeResponse fail, and that is its own fault.
	if fault != "" {
		status = http.StatusInternalServerError
		_ = soap.EncodeFault(&b, v, faultCode(v, true), fault)
	} else if err := soap.EncodeResponse(&b, v, resp); err != nil {
		b.Reset()
		status = http.StatusInternalServerError
		_ = soap.EncodeFault(&b, v, faultCode(v, false), "emulator: "+err.Error())
	}
	w.Header().Set("Content-Type", contentType(v))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
	s.log.Debug().Str("op", resp.Op).Str("code", resp.Code).Int("status", status).
		Dur("took", time.Since(start)).Msg("call")
}

// handle decodes and runs a call. It returns the SOAP version to answer
// in and either the response (with, for a read of stored objects, the
// answer its ResultData table is written from) or the reason of a Fault.
func (s *Server) handle(r *http.Request, body []byte) (soap.Version, *soap.Response, reply, string) {
	reqV, req, err := soap.DecodeRequestBytes(body, soap.Limits{})
	if err != nil && strings.Contains(r.Header.Get("Content-Type"), "soap+xml") {
		reqV = soap.SOAP12 // the envelope did not say; the header does
	}
	v := soap.SOAP12
	if s.cfg.AnswerVersion == AnswerAsRequest {
		v = reqV
	}
	// A request the service cannot run is a Fault with HTTP 500; it never
	// reaches the limit.
	faultf := func(format string, args ...any) (soap.Version, *soap.Response, reply, string) {
		s.bump(&s.stats.Faults)
		op := ""
		if req != nil {
			op = req.Op
		}
		return v, &soap.Response{Op: op}, nil, fmt.Sprintf(format, args...)
	}
	if err != nil {
		return faultf("malformed request: %v", err)
	}
	// DecodeRequest names the operation by its local name only: the
	// namespace is checked here, as a WSDL-bound service checks it.
	if ns := bodyNamespace(body); ns != soap.NamespaceAPI {
		return faultf("element %s is in namespace %q, want %q", req.Op, ns, soap.NamespaceAPI)
	}
	op, ok := catalog.Lookup(req.Op)
	if !ok {
		return faultf("unknown operation %s", req.Op)
	}
	// A plain operation without children decodes as an empty Params and
	// is answered INVALID_PARAMETER below; the other way round is a
	// message the WSDL does not allow.
	if op.Kind != catalog.Plain && req.Children != nil {
		return faultf("%s takes Params, not child elements", op.Name)
	}

	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.opStats(op.Name)
	if !s.admit(op, now) {
		return v, &soap.Response{Op: op.Name, Code: soap.CodeOutOfLimit, Data: soap.String(limitReached)}, nil, ""
	}
	c := &call{s: s, op: op, now: s.stamp(now)}
	resp := c.dispatch(req)
	if c.fault != "" {
		// Refused after it was counted, as the service's exception is.
		s.stats.Faults++
		return v, &soap.Response{Op: op.Name}, nil, c.fault
	}
	st.rows += c.rows
	st.rowErrors += c.errs
	if resp.Code != soap.CodeSuccess {
		c.answer = nil
	}
	return v, resp, c.answer, ""
}

// bodyNamespace returns the namespace of the first element inside the
// envelope's Body ("" when there is none). It reads only up to that
// element.
func bodyNamespace(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth, inBody := 0, false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && t.Name.Local == "Body":
				inBody = true
			case depth == 3 && inBody:
				return t.Name.Space
			}
		case xml.EndElement:
			depth--
		}
	}
}

// contentType is the Content-Type of an answer of version v: the form the
// real service sends.
func contentType(v soap.Version) string {
	if v == soap.SOAP12 {
		return "application/soap+xml;charset=utf-8"
	}
	return "text/xml;charset=utf-8"
}

// faultCode returns the fault code blaming the sender of the request (or
// else the receiver), in the words of version v.
func faultCode(v soap.Version, sender bool) string {
	switch {
	case v == soap.SOAP12 && sender:
		return "Sender"
	case v == soap.SOAP12:
		return "Receiver"
	case sender:
		return "Client"
	}
	return "Server"
}

// bump adds one to a counter of s.stats.
func (s *Server) bump(n *int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*n++
}

// roll reports whether an event of probability p happens.
func (s *Server) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < p
}

// delay waits the configured latency before an answer. It gives up when
// ctx ends (the client left, or the server is shutting down), so that it
// never holds up a shutdown; the answer is then written at once.
func (s *Server) delay(ctx context.Context) {
	lo, hi := s.cfg.LatencyMin, s.cfg.LatencyMax
	d := lo
	if hi > lo {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(hi-lo) + 1))
		s.mu.Unlock()
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// drop cuts the connection without an answer: hijacked and closed over
// HTTP/1, the stream aborted over HTTP/2.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
