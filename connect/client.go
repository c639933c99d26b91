package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/onec-connect/connect-bridge/internal/contract"
)

// Client sends commands to the worker and gives back their results. It
// is safe for concurrent use. Close it before closing its connection.
type Client struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg config

	// base is the client's reply subject prefix: a command's reply
	// subject is base + "." + its token.
	base   string
	sub    *nats.Subscription
	status chan nats.Status
	// soon wakes the watcher for a result to read at once (a duplicate).
	soon chan struct{}
	ids  *nuid.NUID // guarded by mu

	mu      sync.Mutex          // protects waiting, seq, ids, closed and each Pending's check times
	waiting map[string]*Pending // by reply token
	seq     uint64              // the last reply token given, in base 36
	closed  bool

	kvMu sync.Mutex // protects kv
	kv   jetstream.KeyValue

	buckets buckets // the files and mirror buckets, bound once

	stop context.CancelFunc
	done chan struct{} // closed when the watch loop has returned
}

// New makes a client on nc, which the caller owns. It subscribes to the
// client's reply subjects and waits until the server has the
// subscription, so that no reply can come before it.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, errors.New("connect: New: nil connection")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	base := nc.NewInbox()
	if cfg.replyPrefix != "" {
		base = cfg.replyPrefix + "." + nuid.Next()
	}
	// The longest reply subject this client makes must pass the worker's
	// reply policy, or the worker would refuse every command.
	probe := base + ".ZZZZZZZZZZZZZZ"
	deny := []string{cfg.commandPrefix + ">", contract.ResultPrefix + ">", contract.DLQPrefix + ">"}
	if err := (contract.ReplyPolicy{Allow: cfg.replyAllow, Deny: deny}).Check(probe); err != nil {
		return nil, fmt.Errorf("connect: reply subjects %s.*: %w", base, err)
	}
	c := &Client{
		nc: nc, js: js, cfg: cfg, base: base, ids: nuid.New(),
		waiting: map[string]*Pending{}, done: make(chan struct{}),
	}
	c.sub, err = nc.Subscribe(base+".*", c.onReply)
	if err != nil {
		return nil, fmt.Errorf("connect: subscribe to replies: %w", err)
	}
	// Replies of large reads are up to a message each; a slow consumer
	// drops some, which the outcome bucket then answers.
	if err := c.sub.SetPendingLimits(64<<10, 256<<20); err != nil {
		_ = c.sub.Unsubscribe()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := nc.Flush(); err != nil {
		_ = c.sub.Unsubscribe()
		return nil, fmt.Errorf("connect: subscribe to replies: %w", err)
	}
	c.status = nc.StatusChanged(nats.CONNECTED)
	c.soon = make(chan struct{}, 1)
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go c.watch(ctx)
	return c, nil
}

// Close stops the client: every command still waiting for its result
// gets ErrClosed (the results stay in the outcome bucket). It does not
// close the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	waiting := c.waiting
	c.waiting = map[string]*Pending{}
	c.mu.Unlock()
	c.stop()
	<-c.done
	c.nc.RemoveStatusListener(c.status)
	err := c.sub.Unsubscribe()
	for _, p := range waiting {
		p.resolve(Result{}, ErrClosed)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("connect: close: %w", err)
	}
	return nil
}

// Do publishes the command and waits for its result. The error is the
// result's *ResultError when its code is not SUCCESS (the Result is
// returned too), or why the command could not be published or its
// result did not come before ctx ended. In the last case the command
// may still run: its result can be waited for again with the same id
// (WithID).
func (c *Client) Do(ctx context.Context, op Operation, opts ...CommandOption) (Result, error) {
	p, err := c.Submit(ctx, op, opts...)
	if err != nil {
		return Result{}, err
	}
	return p.waitOrForget(ctx)
}

// waitOrForget waits for p's result; when ctx ends first, p is no longer
// waited for (its result stays in the outcome bucket).
func (p *Pending) waitOrForget(ctx context.Context) (Result, error) {
	res, err := p.Wait(ctx)
	if ctx.Err() != nil && err == ctx.Err() {
		p.forget()
	}
	return res, err
}

// Submit publishes the command and returns once the stream has stored
// it; Pending.Wait gives its result. A local refusal (bad fields, bad
// id) is a *ResultError with Local set, and nothing is published.
func (c *Client) Submit(ctx context.Context, op Operation, opts ...CommandOption) (*Pending, error) {
	var cc commandConfig
	for _, o := range opts {
		if err := o(&cc); err != nil {
			return nil, err
		}
	}
	return c.submit(ctx, Command{ID: cc.id, Op: op}, nil)
}

// Command is one command of a bulk load: an operation and, optionally,
// its id (generated when empty).
type Command struct {
	// ID is the command's id; see WithID. Empty: the client makes one.
	ID string
	// Op is the operation and its fields.
	Op Operation
}

// submit checks, registers and publishes one command; done, when not
// nil, is told when its result comes.
func (c *Client) submit(ctx context.Context, cmd Command, done *queue) (*Pending, error) {
	if cmd.Op == nil {
		return nil, errors.New("connect: nil operation")
	}
	if cmd.ID == "" {
		c.mu.Lock()
		cmd.ID = c.ids.Next()
		c.mu.Unlock()
	}
	msg, err := c.message(ctx, cmd)
	if err != nil {
		return nil, err
	}
	p, err := c.register(cmd.ID, cmd.Op.OperationName(), done)
	if err != nil {
		return nil, err
	}
	msg.Header.Set(contract.HeaderReplyTo, c.base+"."+p.token)
	if err := c.publish(ctx, msg, p); err != nil {
		p.forget()
		return nil, err
	}
	return p, nil
}

// outcomes returns the outcome bucket, looked up once it exists.
func (c *Client) outcomes(ctx context.Context) (jetstream.KeyValue, error) {
	c.kvMu.Lock()
	defer c.kvMu.Unlock()
	if c.kv != nil {
		return c.kv, nil
	}
	kv, err := c.js.KeyValue(ctx, c.cfg.outcomeBucket)
	if err != nil {
		return nil, err
	}
	c.kv = kv
	return kv, nil
}
