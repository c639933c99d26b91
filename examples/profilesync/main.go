// Command profilesync is an example service built on the Go SDK: an HTTP
// endpoint that turns user-profile updates into ClientUserEdit commands
// and answers with each command's result.
//
//	POST /profiles/{id}   {"name": "Анна", "surname": "Иванова", "password": "…", "phone": "…", "email": "…"}
//
// The answer is the command's result as JSON: 200 for SUCCESS, 422 when
// the fields are refused (with each field and what is wrong, checked by
// the SDK before anything is sent), 404 when the service has no such
// user, 409 for another refusal of the service, 502 when the bridge
// could not carry the command, 504 when the result did not come in time
// (the command may still run: send it again with the answer's id as
// Idempotency-Key to get its result without running it twice).
//
// An Idempotency-Key header gives the command's id; without one, an id
// is made per request. Every answer names the id. The service keeps no
// state of its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/onec-connect/connect-bridge/connect"
	"github.com/onec-connect/connect-bridge/connect/ops"
)

// config is the service's settings.
type config struct {
	// NATS is the NATS server's URL.
	NATS string
	// Listen is the HTTP address; Listener, when set, is used instead.
	Listen   string
	Listener net.Listener
	// Timeout bounds the wait for one command's result.
	Timeout time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.NATS, "nats", nats.DefaultURL, "the NATS server's `url`")
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8090", "the HTTP `address`")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "how long to wait for a command's result")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then lets the requests in flight finish.
func run(ctx context.Context, cfg config) error {
	nc, err := nats.Connect(cfg.NATS, nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("profilesync: %w", err)
	}
	defer nc.Close()
	c, err := connect.New(nc)
	if err != nil {
		return fmt.Errorf("profilesync: %w", err)
	}
	defer c.Close()
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("profilesync: %w", err)
		}
	}
	srv := &http.Server{Handler: newHandler(c, cfg.Timeout), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("profilesync: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.Timeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("profilesync: shutdown: %w", err)
	}
	return nil
}

// profile is the body of an update.
type profile struct {
	Name     string  `json:"name"`
	Surname  *string `json:"surname"`
	Password string  `json:"password"`
	Phone    string  `json:"phone"`
	EMail    string  `json:"email"`
}

// answer is the body of a response.
type answer struct {
	ID      string                 `json:"id,omitempty"`
	Code    string                 `json:"code"`
	Message string                 `json:"message,omitempty"`
	Fields  []connect.FieldProblem `json:"fields,omitempty"`
	// Sent is false when the SDK refused the command before sending it.
	Sent bool `json:"sent"`
}

// maxBody bounds an update's body.
const maxBody = 16 << 10

// newHandler serves POST /profiles/{id}.
func newHandler(c *connect.Client, timeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /profiles/{id}", func(w http.ResponseWriter, r *http.Request) {
		var p profile
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			reply(w, http.StatusBadRequest, answer{Code: "BAD_REQUEST", Message: "the body is not a profile: " + err.Error()})
			return
		}
		edit := ops.ClientUserEdit{
			ClientUserID: r.PathValue("id"), Name: p.Name, Password: p.Password, Phone: p.Phone, EMail: p.EMail,
		}
		if p.Surname != nil {
			edit.Surname = connect.Set(*p.Surname)
		}
		// The id is chosen here, so that a response without the result
		// can name it.
		id := r.Header.Get("Idempotency-Key")
		if id == "" {
			id = "profile-" + nuid.Next()
		}
		idOpt := connect.WithID(id)
		// Validate refuses bad fields (a *ResultError, as Do would) and a
		// key that is no command id (an error of the option).
		if err := c.Validate(edit, idOpt); err != nil {
			var re *connect.ResultError
			if !errors.As(err, &re) {
				reply(w, http.StatusBadRequest, answer{Code: "BAD_REQUEST", Message: "Idempotency-Key: " + err.Error()})
				return
			}
			status, a := outcome(connect.Result{}, err)
			reply(w, status, a)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res, err := c.Do(ctx, edit, idOpt)
		status, a := outcome(res, err)
		if a.ID == "" {
			a.ID = id
		}
		reply(w, status, a)
	})
	return mux
}

// outcome maps a command's result to the response: one place for every
// code.
func outcome(res connect.Result, err error) (int, answer) {
	a := answer{ID: res.ID, Code: res.Code, Message: res.Message, Sent: true}
	var re *connect.ResultError
	switch {
	case err == nil:
		return http.StatusOK, a
	case errors.As(err, &re):
		a.ID, a.Code, a.Message, a.Fields, a.Sent = re.ID, re.Code, re.Message, re.Fields, !re.Local
		switch {
		case errors.Is(err, connect.ErrInvalidFields), errors.Is(err, connect.ErrInvalidCommand):
			return http.StatusUnprocessableEntity, a
		case re.Code == "OBJECT_NOT_FOUND":
			return http.StatusNotFound, a
		case errors.Is(err, connect.ErrService), errors.Is(err, connect.ErrSOAPFault):
			return http.StatusConflict, a
		}
		return http.StatusBadGateway, a
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, answer{Code: "TIMEOUT", Message: "no result yet: send it again with this id as Idempotency-Key", Sent: true}
	}
	return http.StatusBadGateway, answer{Code: "UNAVAILABLE", Message: err.Error()}
}

func reply(w http.ResponseWriter, status int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}
