// Package embednats runs a NATS server with JetStream inside the process,
// for the default set-up (no NATS to install) and for tests. Production
// deployments point the worker at a real NATS cluster instead.
//
// Invariant: Start returns only once the server accepts clients, or an
// error; the caller owns the server and shuts it down.
package embednats

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded server. Zero fields take the defaults.
type Config struct {
	// Host and Port to listen on. Host defaults to 127.0.0.1; Port 0 means
	// 4222, -1 a random free port.
	Host string
	Port int
	// StoreDir is where JetStream keeps its files. Required.
	StoreDir string
	// ServerName names the server; defaults to "connect-embedded".
	ServerName string
	// Cluster, when set, joins the server to a cluster of embedded servers
	// (tests of a JetStream cluster on loopback).
	Cluster *ClusterConfig
	// ReadyTimeout bounds the wait for the server to accept clients.
	// Defaults to 10s.
	ReadyTimeout time.Duration
	// Tune, when set, adjusts the server's options last, before it starts:
	// users and permissions, limits (tests of authentication and of
	// hostile clients).
	Tune func(*server.Options)
}

// ClusterConfig makes a server one node of a cluster.
type ClusterConfig struct {
	Name   string
	Host   string
	Port   int      // the cluster (route) port of this node
	Routes []string // nats-route://host:port of every node, this one included
}

// Start runs a server with JetStream and waits until it is ready.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embednats: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20, // room for files attached to service requests
	}
	if opts.ServerName == "" {
		opts.ServerName = "connect-embedded"
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = 4222
	}
	if c := cfg.Cluster; c != nil {
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		routes, err := parseRoutes(c.Routes)
		if err != nil {
			return nil, err
		}
		opts.Routes = routes
	}
	if cfg.Tune != nil {
		cfg.Tune(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embednats: %w", err)
	}
	go s.Start()
	wait := cfg.ReadyTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		return nil, fmt.Errorf("embednats: server not ready within %s (is %s:%d in use?)", wait, opts.Host, opts.Port)
	}
	return s, nil
}

func parseRoutes(routes []string) (out []*url.URL, err error) {
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("embednats: route %q: %w", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}
