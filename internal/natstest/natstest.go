// Package natstest starts real embedded NATS JetStream servers for tests:
// one server, or a cluster of them on loopback. Never a mock of NATS.
package natstest

import (
	"fmt"
	"go.uber.org/goleak"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onec-connect/connect-bridge/internal/embednats"
)

// Server starts a JetStream server on a random port, its files in a
// temporary folder, and shuts it down when the test ends.
func Server(t testing.TB) *server.Server {
	t.Helper()
	s, err := embednats.Start(embednats.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// ServerWith starts a server like Server, its options adjusted by tune
// (authentication, limits), on port (-1: a random free one).
func ServerWith(t testing.TB, port int, storeDir string, tune func(*server.Options)) *server.Server {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	s, err := embednats.Start(embednats.Config{Port: port, StoreDir: storeDir, Tune: tune})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Connect opens a client connection to url, closed when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return nc, js
}

// Cluster is a JetStream cluster of embedded servers on loopback.
type Cluster struct {
	t       testing.TB
	Servers []*server.Server
	configs []embednats.Config
}

// NewCluster starts n servers that form one JetStream cluster and waits
// until it has a meta leader.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &Cluster{t: t}
	for i := range n {
		cfg := embednats.Config{
			Port:       ports[i],
			StoreDir:   t.TempDir(),
			ServerName: fmt.Sprintf("node-%d", i+1),
			Cluster:    &embednats.ClusterConfig{Name: "connect-test", Host: "127.0.0.1", Port: ports[n+i], Routes: routes},
		}
		c.configs = append(c.configs, cfg)
		s, err := embednats.Start(cfg)
		if err != nil {
			t.Fatalf("natstest: node %d: %v", i+1, err)
		}
		c.Servers = append(c.Servers, s)
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	c.WaitForMetaLeader(30 * time.Second)
	return c
}

// URLs returns the client URLs of every node, comma-separated.
func (c *Cluster) URLs() string {
	out := ""
	for i, cfg := range c.configs {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port)
	}
	return out
}

// Stop shuts node i down (its files stay, so Restart brings it back with
// its state).
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
	c.Servers[i] = nil
}

// Restart starts node i again on the same ports and folder.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	s, err := embednats.Start(c.configs[i])
	if err != nil {
		c.t.Fatalf("natstest: restart node %d: %v", i+1, err)
	}
	c.Servers[i] = s
}

// WaitForMetaLeader waits until a running node is the JetStream meta
// leader, polling the servers' own state until the deadline.
func (c *Cluster) WaitForMetaLeader(timeout time.Duration) {
	c.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		for _, s := range c.Servers {
			if s != nil && s.JetStreamIsLeader() {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			c.t.Fatalf("natstest: no JetStream meta leader within %s", timeout)
		}
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// LeakOptions are the goroutine-leak checks' exceptions for goroutines
// that nats.go itself may leave behind: the async publisher's watcher of
// connection changes, which waits forever on a nil channel when the
// connection closes while the publisher is being set up (nats.go
// v1.55.0, jetstream/publish.go, resetPendingAcksOnReconnect). Nothing of
// ours runs in it.
func LeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect")}
}
