package failovertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// Defaults of [Options].
const (
	// DefaultNodes is the cluster size when Options.Nodes is zero.
	DefaultNodes = 3
	// DefaultScope is the cluster name when Options.Scope is empty.
	DefaultScope = "failovertest"
	// DefaultStepInterval is how often replication moves when
	// Options.StepInterval is zero: much shorter than a loop cycle, so
	// that WAL reaches the replicas "at once" as seen by the Controllers.
	DefaultStepInterval = 5 * time.Millisecond
	// apiPort is the port of every node's health API URL; only the host
	// name routes, the port is there because Patroni's URLs have one.
	apiPort = 8008
	// pollInterval is how often WaitLeader looks at the nodes.
	pollInterval = 20 * time.Millisecond
)

// Settings returns short timings for tests: a 4 s TTL and a 500 ms loop
// wait, so that a failover after a crash takes a few seconds instead of
// Patroni's 30 s TTL.
func Settings() failover.Settings {
	s := failover.DefaultSettings()
	s.TTL = 4 * time.Second
	s.LoopWait = 500 * time.Millisecond
	return s
}

// Options configure a [Cluster]. Zero values take the defaults named on
// each field.
type Options struct {
	// Nodes is the number of members, named n1, n2, ... (see
	// NamePrefix); default
	// DefaultNodes.
	Nodes int
	// Scope is the cluster name and DCS prefix; default DefaultScope.
	Scope string
	// NamePrefix names the members: NamePrefix1, NamePrefix2, ...;
	// default "n". Two clusters on one Network need different prefixes.
	NamePrefix string
	// Network, when set, is the pgtest network the servers join, so that
	// two clusters can replicate from each other (a standby cluster); it
	// is stepped by every cluster on it. Default: a network of this
	// cluster's own.
	Network *pgtest.Network
	// Settings are every Controller's settings; zero value: [Settings].
	Settings failover.Settings
	// HandOver makes a stopped Controller (Node.Stop, Cluster.Close) hand
	// over cleanly (failover.ExitHandOver). Default false:
	// failover.ExitAbandon, the agent dies without touching PostgreSQL or
	// the DCS, which is what a test of a failure usually wants and what
	// keeps Close quick.
	HandOver bool
	// StepInterval is how often the pgtest Network moves WAL; default
	// DefaultStepInterval.
	StepInterval time.Duration
	// Logger receives every component's logs; default: discarded.
	Logger *slog.Logger
	// Configure, when set, may change a node's Controller options just
	// before the Controller is created (tags, OnEvent, ...). i counts from
	// 0; node 0 bootstraps. The harness's wiring (Store, Instance,
	// DataDir, ConnURL, APIURL, HTTPClient) may be replaced, at the
	// caller's risk.
	Configure func(i int, o *failover.ControllerOptions)
}

// Cluster is N failover.Controllers over pgtest servers and one in-memory
// DCS, wired in process. Its methods are safe for concurrent use.
type Cluster struct {
	o        Options
	net      *pgtest.Network
	dcs      *memory.Cluster
	observer *memory.Store
	router   *router
	client   *http.Client
	nodes    []*Node

	stopStep  context.CancelFunc
	stepDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Node is one member of a [Cluster]: a Controller, the simulated server it
// manages and its own DCS client.
type Node struct {
	// Name is the member name, also the host name of its server and of
	// its health API.
	Name string
	// Controller runs the node's HA loop.
	Controller *failover.Controller
	// Server is the node's PostgreSQL: its Instance and data directory.
	Server *pgtest.Server
	// Store is the node's DCS client; SetFault on it cuts this node alone
	// off from the DCS.
	Store *memory.Store
	// API is the node's health API handler, as peers reach it.
	API http.Handler

	router *router
	cancel context.CancelFunc
	done   chan struct{}
	// mu orders Stop against SetAPIReachable, so that a stopped node's
	// API never comes back.
	mu      sync.Mutex
	stopped bool
	// err is what Run returned; read after done is closed.
	err error
}

// NewCluster starts a cluster like [Start] and stops it in t.Cleanup. It
// fails the test if the cluster cannot start.
func NewCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("failovertest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("failovertest: close: %v", err)
		}
	})
	return c
}

// Start creates the servers, the DCS and the Controllers and runs them
// until ctx ends or Close is called; it does not wait for a leader (see
// [Cluster.WaitLeader]). Call Close to release everything, also after ctx
// ended.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Nodes < 0 {
		return nil, fmt.Errorf("failovertest: Nodes must not be negative, got %d", o.Nodes)
	}
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	if o.Settings == (failover.Settings{}) {
		o.Settings = Settings()
	}
	if o.StepInterval <= 0 {
		o.StepInterval = DefaultStepInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NamePrefix == "" {
		o.NamePrefix = "n"
	}
	if o.Network == nil {
		o.Network = pgtest.NewNetwork(nil)
	}
	mc := memory.NewCluster(memory.ClusterOptions{Logger: o.Logger})
	c := &Cluster{
		o:        o,
		net:      o.Network,
		dcs:      mc,
		observer: mc.Store(dcs.Prefix("", o.Scope), memory.StoreOptions{}),
		router:   &router{handlers: map[string]http.Handler{}},
		stepDone: make(chan struct{}),
	}
	stepCtx, stopStep := context.WithCancel(context.Background())
	c.stopStep = stopStep
	go c.step(stepCtx)
	// The same client for every node: the transport holds no per-node
	// state, the routing is by the peer's host name.
	c.client = &http.Client{Transport: c.router}
	for i := range o.Nodes {
		n, err := c.startNode(ctx, i, c.client)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// startNode creates node i's server, DCS client, Controller and health
// API, and runs the Controller.
func (c *Cluster) startNode(ctx context.Context, i int, client *http.Client) (*Node, error) {
	name := fmt.Sprintf("%s%d", c.o.NamePrefix, i+1)
	srv := c.net.NewServer(name)
	n := &Node{
		Name:   name,
		Server: srv,
		Store:  c.dcs.Store(dcs.Prefix("", c.o.Scope), memory.StoreOptions{}),
		router: c.router,
		done:   make(chan struct{}),
	}
	addr := srv.Addr()
	co := failover.ControllerOptions{
		Name:     name,
		Scope:    c.o.Scope,
		Store:    n.Store,
		Instance: srv,
		// The server inspects its simulated data directory: without it
		// the Controller would assume a data directory exists and never
		// bootstrap or clone.
		DataDir:    srv,
		ConnURL:    fmt.Sprintf("postgres://%s:%d/postgres", addr.Host, addr.Port),
		APIURL:     fmt.Sprintf("http://%s:%d/patroni", name, apiPort),
		Settings:   c.o.Settings,
		HTTPClient: client,
		ExitMode:   failover.ExitAbandon,
		Logger:     c.o.Logger,
	}
	if c.o.HandOver {
		co.ExitMode = failover.ExitHandOver
	}
	if i == 0 {
		co.Bootstrap = &pg.BootstrapOptions{}
	}
	if c.o.Configure != nil {
		c.o.Configure(i, &co)
	}
	ctrl, err := failover.NewController(co)
	if err != nil {
		return nil, fmt.Errorf("failovertest: node %s: %w", name, err)
	}
	api, err := healthapi.New(healthapi.Options{Source: ctrl, Manager: ctrl, AllowUnauthenticated: true, Logger: c.o.Logger})
	if err != nil {
		return nil, fmt.Errorf("failovertest: node %s health API: %w", name, err)
	}
	n.Controller, n.API = ctrl, api
	c.router.set(name, api)
	runCtx, cancel := context.WithCancel(ctx)
	n.cancel = cancel
	go func() {
		defer close(n.done)
		n.err = ctrl.Run(runCtx)
	}()
	return n, nil
}

// step moves WAL every StepInterval until ctx ends: pgtest replicates only
// when told to, and the Controllers expect a live replication stream.
func (c *Cluster) step(ctx context.Context) {
	defer close(c.stepDone)
	t := time.NewTicker(c.o.StepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.net.Step()
		}
	}
}

// Close stops every Controller (as Options.ExitMode says), the
// replication goroutine and the DCS, and returns the Controllers' Run
// errors. It is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for _, n := range c.nodes {
			errs = append(errs, n.Stop())
		}
		c.stopStep()
		<-c.stepDone
		errs = append(errs, c.dcs.Close())
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// Network returns the pgtest Network of the servers, for Step-level
// control and LostCommits.
func (c *Cluster) Network() *pgtest.Network { return c.net }

// Store returns a DCS client of the cluster's scope that no node uses: an
// observer, unaffected by the nodes' faults.
func (c *Cluster) Store() dcs.Store { return c.observer }

// HTTPClient returns the client the Controllers query their peers with:
// it reaches every running node's health API at
// http://<node name>:8008/ in process.
func (c *Cluster) HTTPClient() *http.Client { return c.client }

// DCS returns the in-memory DCS, for cluster-wide faults and ExpireNow.
func (c *Cluster) DCS() *memory.Cluster { return c.dcs }

// Nodes returns the nodes in creation order.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Leader returns the running node whose Controller reports that it leads,
// or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.nodes {
		if s := n.Controller.State(); !n.Stopped() && s != nil && s.IsLeader {
			return n
		}
	}
	return nil
}

// WaitLeader waits up to timeout until the cluster is settled: one running
// node leads a running primary (or, in a standby cluster, runs as its
// standby leader), holds the leader key, and every other
// running node is a running replica on the leader's timeline. Stopped
// nodes are ignored. The error describes the last state seen.
func (c *Cluster) WaitLeader(timeout time.Duration) (*Node, error) {
	var l *Node
	err := poll(timeout, func() (err error) {
		l, err = c.settled()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failovertest: no settled leader: %w", err)
	}
	return l, nil
}

// WaitSync waits up to timeout until the sync key names a running leader
// and at least one synchronous standby, and returns it: from then on, in
// synchronous mode, a commit on the leader is acknowledged only once a
// standby has it.
func (c *Cluster) WaitSync(timeout time.Duration) (*dcs.SyncState, error) {
	var st *dcs.SyncState
	err := poll(timeout, func() error {
		snap, err := c.observer.Get(context.Background())
		if err != nil {
			return fmt.Errorf("read the DCS: %w", err)
		}
		st = dcs.Parse(snap).Sync
		if st == nil || len(st.SyncStandby) == 0 {
			return fmt.Errorf("sync key %+v names no standby", st)
		}
		if l := c.Leader(); l == nil || l.Name != st.Leader {
			return fmt.Errorf("sync key names %s, which does not lead", st.Leader)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failovertest: no synchronous standby: %w", err)
	}
	return st, nil
}

// Commit writes a commit record of size bytes on the node's server and
// waits up to timeout until it is acknowledged (see pgtest.Server.Commit).
// It fails at once if the server is not a running primary.
func (n *Node) Commit(size int, timeout time.Duration) (*pgtest.Commit, error) {
	cm, err := n.Server.Commit(size)
	if err != nil {
		return nil, fmt.Errorf("failovertest: commit on %s: %w", n.Name, err)
	}
	err = poll(timeout, func() error {
		if st := cm.State(); st != pgtest.CommitAcknowledged {
			return fmt.Errorf("%v is %s", cm, st)
		}
		return nil
	})
	if err != nil {
		return cm, fmt.Errorf("failovertest: commit on %s: %w", n.Name, err)
	}
	return cm, nil
}

// poll calls cond every pollInterval until it returns nil or timeout
// elapses; then it returns cond's last error.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		<-t.C
	}
}

// settled returns the leader of a settled cluster, or why it is not.
func (c *Cluster) settled() (*Node, error) {
	l := c.Leader()
	if l == nil {
		return nil, errors.New("no node leads")
	}
	ls := l.Controller.State()
	if ls.Role != dcs.RolePrimary && ls.Role != dcs.RoleStandbyLeader || ls.PGState != dcs.StateRunning {
		return nil, fmt.Errorf("leader %s: role %s, state %s", l.Name, ls.Role, ls.PGState)
	}
	// The observer's view: a leader whose key another node's race could
	// still take is not settled.
	snap, err := c.observer.Get(context.Background())
	if err != nil {
		return nil, fmt.Errorf("read the DCS: %w", err)
	}
	if k := dcs.Parse(snap).Leader; k == nil || k.Name != l.Name {
		return nil, fmt.Errorf("leader %s does not hold the leader key (%+v)", l.Name, k)
	}
	for _, n := range c.nodes {
		if n == l || n.Stopped() {
			continue
		}
		s := n.Controller.State()
		if s == nil || s.Role != dcs.RoleReplica || s.PGState != dcs.StateRunning || s.Timeline != ls.Timeline {
			return nil, fmt.Errorf("replica %s not following leader %s: %+v", n.Name, l.Name, s)
		}
	}
	return l, nil
}

// Stop stops the node's Controller as Options.ExitMode says (by default
// like its agent dying: PostgreSQL keeps running, the lease expires within
// the TTL) and takes its health API off the network, since the agent
// serves it. It returns what Controller.Run returned; later calls return
// the same.
func (n *Node) Stop() error {
	n.mu.Lock()
	n.stopped = true
	n.router.set(n.Name, nil)
	n.mu.Unlock()
	n.cancel()
	<-n.done
	return n.err
}

// Crash stops the node's Controller and crashes its server, as when the
// host dies: no shutdown checkpoint reaches the replicas, the primary's
// unreplicated WAL is gone from the cluster's view, and the leader key
// expires within the TTL.
func (n *Node) Crash() error {
	err := n.Stop()
	n.Server.Crash()
	return err
}

// Stopped reports whether Stop (or Crash) was called or the Controller's
// Run returned on its own (it does only when it cannot start).
func (n *Node) Stopped() bool {
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if stopped {
		return true
	}
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// SetAPIReachable takes the node's health API off the network (false) or
// puts it back (true): peers' queries then fail like a refused connection,
// as with a network partition between agents. It does nothing once the
// node is stopped.
func (n *Node) SetAPIReachable(ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	if ok {
		n.router.set(n.Name, n.API)
	} else {
		n.router.set(n.Name, nil)
	}
}
