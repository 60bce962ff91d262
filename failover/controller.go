package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
)

// ErrInvalidOptions is wrapped by every error [NewController] returns for
// bad options; the message names the field.
var ErrInvalidOptions = errors.New("failover: invalid controller options")

// ErrRunning is returned by [Controller.Run] when the controller already
// runs (or ran: a Controller runs once).
var ErrRunning = errors.New("failover: controller already ran")

// ErrBootstrapFailed is wrapped by the error [Controller.Run] returns when
// this node won the initialize race and its bootstrap (initdb or a custom
// method, then post_bootstrap) failed. As Patroni does, the Controller has
// then deleted the initialize key, so another member or a restarted agent
// can bootstrap, and set the failed data directory aside when the
// Instance is a [pg.DataDirMover]; the agent should exit with the error.
var ErrBootstrapFailed = errors.New("failover: bootstrap failed")

// ExitMode is what [Controller.Run] does when its context ends.
type ExitMode int

const (
	// ExitHandOver (the default): a leader stops PostgreSQL cleanly (so
	// the replicas receive its shutdown checkpoint), waits briefly for a
	// replica to confirm it, and resigns, so a replica takes over at once
	// (DESIGN §3 invariant 5). A replica leaves its server running.
	ExitHandOver ExitMode = iota
	// ExitAbandon stops the loop and the lease keepalives and touches
	// nothing else: no resign, no stop, no revoke. The lease and the keys
	// bound to it expire within the TTL. This is what a crash of the agent
	// looks like. An Instance that is a pg.DeadlineFencer (pglocal.Local) stays
	// armed, so its primary is stopped at the term's deadline by the fence
	// keeper; any other Instance's primary keeps running without an agent,
	// so use it then only with a watchdog or in tests.
	ExitAbandon
)

// ControllerOptions configure a [Controller]. Zero values take the
// defaults named on each field.
type ControllerOptions struct {
	// Name is this member's name (dcs.ValidateName). Required.
	Name string
	// Scope is the cluster name, reported by the health API.
	Scope string
	// Store is the DCS, scoped to the cluster. Required.
	Store dcs.Store
	// Instance is the local PostgreSQL. Required.
	Instance pg.Instance
	// ConnURL is how others reach this PostgreSQL
	// ("postgres://host:port/postgres"); published in the member key and
	// used by replicas to stream, clone and rewind from this node.
	// Required.
	ConnURL string
	// APIURL is this node's health API ("http://host:port/patroni"), which
	// peers query during the leader race. Required.
	APIURL string
	// ProxyURL, when set, is published in the member key as Patroni's
	// proxy_url: a connection pooler in front of this node
	// ("postgres://host:port/postgres", from postgresql.proxy_address).
	ProxyURL string
	// Tags are this member's tags (nofailover, failover_priority,
	// clonefrom, replicatefrom, noloadbalance, nosync).
	Tags dcs.Tags
	// Version is published in the member key; default "pgha".
	Version string

	// Settings are the decision knobs; zero value: DefaultSettings(). The
	// cluster's config key overlays them every cycle (Settings.WithConfig),
	// ttl included: a new ttl moves the lease, and a held term's leader
	// key, to one granted with it (election.Candidate.Reconfigure), the
	// other election timings derived from it where Election leaves them
	// zero. A value absent from the key takes the one here.
	Settings Settings
	// BootstrapConfig is the dynamic configuration this node writes to the
	// cluster's config key when it bootstraps a new cluster, or when it
	// leads and finds the key missing; written as is, Extra keys included.
	// It only seeds the key (Patroni's bootstrap.dcs): the effective
	// settings stay Settings overlaid with the key, so a value later
	// removed from the key falls back to Settings, not to this. Nil: the
	// dynamic values of Settings are written.
	BootstrapConfig *dcs.ClusterConfig
	// Election configures the lease. A zero TTL takes Settings.TTL; a
	// non-zero one must equal it. Clock and Logger default to the
	// Controller's.
	Election election.Options

	// Bootstrap, when set, lets this node initialize a new cluster (it
	// takes part in the initialize race). Nil: the node only clones. An
	// initdb bootstrap is bounded by 10 StartTimeouts; a custom method
	// (a restore) only by Run's context. If it fails, Run ends with
	// ErrBootstrapFailed.
	Bootstrap *pg.BootstrapOptions
	// DataDir reports the state of the data directory. Default: for an
	// Instance with a DataDir() string method (pglocal.Local), the files in
	// that directory; otherwise the data directory is assumed to exist
	// (logged at warn level), so the node neither bootstraps nor clones:
	// set it for any other Instance (pgtest.Server is its own).
	DataDir DataDirInspector

	// ExitMode is what Run does when its context ends; default
	// ExitHandOver.
	ExitMode ExitMode
	// HandOverTimeout bounds the hand-over on exit; default 30 s.
	HandOverTimeout time.Duration
	// SwitchoverTimeout bounds how long Manager.Switchover and Failover
	// wait for the outcome; default 2 × max(10 s, loop_wait), as Patroni.
	SwitchoverTimeout time.Duration
	// StartTimeout bounds starting PostgreSQL and other slow operations
	// (clone, rewind, bootstrap use 10 × it); default 60 s.
	StartTimeout time.Duration
	// PGPollInterval is how often the postmaster's state is checked to
	// wake the loop on a crash; default 200 ms.
	PGPollInterval time.Duration

	// HTTPClient queries peers' APIs; default a client without proxy.
	// Each query is bounded by Settings.PeerQueryTimeout.
	HTTPClient *http.Client
	// Watchdog, when set, is armed before this node promotes and petted
	// while its term is valid (see [Watchdog]); nil runs without one.
	// Exit mode ExitAbandon leaves it armed, so that a host whose agent is
	// gone is reset.
	Watchdog Watchdog
	// PeerAuth is the basic authentication sent with POST /failsafe to
	// the other members (their restapi.authentication); nil sends none.
	PeerAuth *healthapi.BasicAuth
	// Clock defaults to clock.Real().
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider and MeterProvider default to the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// OnEvent, when set, is called synchronously for every role change
	// (see [EventKind]); it must not block.
	OnEvent func(Event)
	// Hooks run the embedder's code before a promotion (with the power to
	// veto it), before a stop, and after starts, stops, restarts, reloads
	// and role changes; see [Hooks].
	Hooks Hooks
}

// Controller runs the HA loop of one node: it reads the DCS, looks at the
// local PostgreSQL, asks [Decide] what to do and does it, publishes the
// member key and (as leader) the status key, and keeps a state snapshot
// for the health API. It implements healthapi.StateSource and
// healthapi.Manager. Create it with [NewController] and call Run once.
type Controller struct {
	o ControllerOptions
	// eo holds the election timings in effect; ttl changes from the
	// config key replace them (see effectiveSettings). ebase is
	// ControllerOptions.Election as given: its zero fields are derived
	// from each new ttl.
	eo    atomic.Pointer[election.Options]
	ebase election.Options
	// store is ControllerOptions.Store wrapped to tell view how each
	// call went (trackedStore); the election candidate uses it too.
	store dcs.Store
	// view is the cluster as the watch delivers it (view.go).
	view *dcsView
	// lead is this node's leader term (term.go), sync its part in
	// synchronous replication (sync_rep.go).
	lead *leadership
	sync *syncRep
	inst pg.Instance
	clk  clock.Clock
	log  *slog.Logger
	http *http.Client
	ddir DataDirInspector
	otel instruments
	// bootstrapConfig is ControllerOptions.BootstrapConfig encoded, nil
	// when unset.
	bootstrapConfig []byte

	cache healthapi.StateCache
	wake  chan struct{}
	// opMu serializes changes to PostgreSQL between the loop and the
	// Manager's restart and reinitialize.
	opMu sync.Mutex
	// pgConf is the cluster's postgresql section as last applied, slots
	// the replication slots' bookkeeping; opMu.
	pgConf pgConfState
	slots  slotState

	mu      sync.Mutex
	started bool
	cand    *election.Candidate
	wg      sync.WaitGroup
	b       book
	// hooks runs the after-the-fact hooks (hooks.go); vetoedAt is when
	// the pre-promote hook last refused a promotion (under mu).
	hooks    hookRunner
	vetoedAt time.Time
	// sched is the scheduled restart; schedAdopted is set once the member
	// key has been looked at for one left by an earlier agent. Guarded by mu.
	sched        *scheduledRestart
	schedAdopted bool
	// fatal, once set (a failed bootstrap), ends the loop and is what Run
	// returns. Guarded by mu.
	fatal error
}

var (
	_ healthapi.StateSource = (*Controller)(nil)
	_ healthapi.Manager     = (*Controller)(nil)
)

// NewController validates opts and returns a Controller. It starts
// nothing; see [Controller.Run].
func NewController(opts ControllerOptions) (*Controller, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidOptions, field, fmt.Sprintf(format, args...))
	}
	if err := dcs.ValidateName(opts.Name); err != nil {
		return nil, bad("Name", "%v", err)
	}
	if opts.Store == nil {
		return nil, bad("Store", "required")
	}
	if opts.Instance == nil {
		return nil, bad("Instance", "required")
	}
	for field, raw := range map[string]string{"ConnURL": opts.ConnURL, "APIURL": opts.APIURL, "ProxyURL": opts.ProxyURL} {
		if field == "ProxyURL" && raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.Scheme == "" {
			return nil, bad(field, "want an absolute URL with a host, got %q", raw)
		}
	}
	if opts.Settings == (Settings{}) {
		opts.Settings = DefaultSettings()
	}
	if opts.Election.TTL == 0 {
		opts.Election.TTL = opts.Settings.TTL
	} else if opts.Election.TTL != opts.Settings.TTL {
		return nil, bad("Election.TTL", "%v differs from Settings.TTL %v", opts.Election.TTL, opts.Settings.TTL)
	}
	if err := opts.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("%w: Settings: %w", ErrInvalidOptions, err)
	}
	var bootstrapConfig []byte
	if bc := opts.BootstrapConfig; bc != nil {
		// Checked and encoded once: a value Encode would drop or cannot
		// marshal is reported here, and the caller may reuse the struct.
		if err := checkEncodable(bc); err != nil {
			return nil, bad("BootstrapConfig", "%v", err)
		}
		bootstrapConfig = bc.Encode()
		// Its values are clamped like the key's once written; the
		// warnings are logged when the key is read.
		if err := opts.Settings.WithConfig(bc).Validate(); err != nil {
			return nil, bad("BootstrapConfig", "%v", err)
		}
		// Until the config key is written, a standby cluster's first
		// leader knows it is one only from here (see
		// Settings.StandbyCluster).
		if sc, _ := StandbyClusterOf(bc); sc.Active() && opts.Settings.StandbyCluster == nil {
			opts.Settings.StandbyCluster = sc
		}
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Election.Clock == nil {
		opts.Election.Clock = opts.Clock
	}
	if opts.Election.Logger == nil {
		opts.Election.Logger = opts.Logger
	}
	// The same defaults election applies, so that the Controller's own DCS
	// calls are bounded like the election's.
	ebase := opts.Election
	opts.Election = opts.Election.WithDefaults()
	if err := opts.Election.Validate(); err != nil {
		return nil, fmt.Errorf("%w: Election: %w", ErrInvalidOptions, err)
	}
	// A primary fences DemoteLead before its deadline: the lease timings
	// must still ride out three failed keepalives with that on top. A
	// derived lead is fixed here, so that a ttl changed later in the
	// config key does not move it under a running guard.
	opts.Settings.DemoteLead = opts.Settings.demoteLead()
	if err := opts.Election.CheckRideThrough(opts.Settings.DemoteLead); err != nil {
		return nil, fmt.Errorf("%w: Election with Settings.DemoteLead %v: %w", ErrInvalidOptions, opts.Settings.DemoteLead, err)
	}
	if opts.ExitMode != ExitHandOver && opts.ExitMode != ExitAbandon {
		return nil, bad("ExitMode", "unknown mode %d", opts.ExitMode)
	}
	for field, d := range map[string]time.Duration{"HandOverTimeout": opts.HandOverTimeout, "SwitchoverTimeout": opts.SwitchoverTimeout,
		"StartTimeout": opts.StartTimeout, "PGPollInterval": opts.PGPollInterval} {
		if d < 0 {
			return nil, bad(field, "must not be negative, got %v", d)
		}
	}
	if opts.Version == "" {
		opts.Version = "pgha"
	}
	if opts.HandOverTimeout == 0 {
		opts.HandOverTimeout = 30 * time.Second
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.PGPollInterval == 0 {
		opts.PGPollInterval = 200 * time.Millisecond
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	view := &dcsView{}
	c := &Controller{
		o:     opts,
		ebase: ebase,
		store: &trackedStore{Store: opts.Store, v: view, clk: opts.Clock},
		view:  view,
		inst:  opts.Instance,
		clk:   opts.Clock,
		log:   opts.Logger.With("member", opts.Name),
		http:  opts.HTTPClient,
		ddir:  opts.DataDir,
		wake:  make(chan struct{}, 1),

		bootstrapConfig: bootstrapConfig,
	}
	if c.ddir == nil {
		c.ddir = defaultInspector(opts.Instance)
		if _, ok := opts.Instance.(interface{ DataDir() string }); !ok {
			// Without a way to look, the data directory is taken to exist:
			// the node never bootstraps or clones, and waits for a leader
			// to follow. An embedder with a simulated Instance meets this
			// first.
			c.log.Warn("failover: ControllerOptions.DataDir is not set and the Instance has no DataDir method: assuming the data directory exists, so this node will neither bootstrap nor clone")
		}
	}
	eo := opts.Election
	c.eo.Store(&eo)
	c.lead = &leadership{name: opts.Name, inst: opts.Instance, clk: c.clk, log: c.log, eo: &c.eo, wd: opts.Watchdog,
		demoteLead: opts.Settings.DemoteLead, startTimeout: opts.StartTimeout, wg: &c.wg, ctx: context.Background(),
		hooks: termHooks{
			changed: c.publishState,
			event:   c.emit,
			wake:    c.poke,
			won: func() {
				c.sync.newTerm()
			},
			beforeStop: c.beforeStop,
			unfollowed: func() {
				c.mu.Lock()
				c.b.mem = c.b.mem.followed("")
				c.mu.Unlock()
			},
			runsPrimary: func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				st := c.b.pgStatus
				return c.b.pgStatusOK && st.State == pg.StateRunning && st.Role == pg.RolePrimary
			},
		}}
	c.sync = &syncRep{name: opts.Name, inst: opts.Instance, store: c.store, clk: c.clk, log: c.log, eo: &c.eo,
		startTimeout: opts.StartTimeout}
	c.otel = newInstruments(opts.TracerProvider, opts.MeterProvider, c.log)
	c.b.failovers = map[string]uint64{}
	return c, nil
}

// eopts returns the election timings in effect.
func (c *Controller) eopts() election.Options { return *c.eo.Load() }

// Name returns the member name.
func (c *Controller) Name() string { return c.o.Name }

// State returns the latest published node state (healthapi.StateSource).
// Leadership is checked again against the term's deadline at the moment of
// the call: a snapshot published while the term was valid never answers
// /primary with 200 once the term is within DemoteLead of its deadline or
// was dropped, even if the loop has not published since (it may be blocked
// on a slow PostgreSQL or DCS call). It never waits on I/O.
func (c *Controller) State() *healthapi.NodeState {
	ns := c.cache.State()
	if ns == nil || !ns.IsLeader {
		return ns
	}
	if t := c.lead.current(); t != nil && t.Token() == ns.Term && c.clk.Now().Before(c.lead.fenceAt(t)) {
		return ns
	}
	cp := *ns
	cp.IsLeader, cp.Term = false, 0
	return &cp
}

// LiveState is State with the WAL positions (and timeline) read from
// PostgreSQL now (healthapi.LiveSource): GET /patroni serves it, so that a
// peer racing for the leader key measures its lag against where this
// node's WAL is, not where it was at the last loop. A server that runs as
// a replica is reported running even when the snapshot predates its start
// (it just started, and its WAL counts in the race); otherwise State is
// returned when the status query fails or the server's role differs from
// the snapshot (a promotion or demotion in progress is the loop's to
// publish).
func (c *Controller) LiveState(ctx context.Context) *healthapi.NodeState {
	ns := c.State()
	if ns == nil {
		return nil
	}
	st, err := c.inst.Status(ctx)
	if err != nil || st.State != pg.StateRunning {
		return ns
	}
	replica := st.Role != pg.RolePrimary
	if !replica && (ns.PGState != dcs.StateRunning || ns.Role != dcs.RolePrimary) {
		return ns
	}
	cp := *ns
	if replica {
		cp.PGState = dcs.StateRunning
		if cp.Role != dcs.RoleStandbyLeader {
			cp.Role = dcs.RoleReplica
		}
	}
	cp.Timeline = int64(st.Timeline)
	cp.XLogLocation = st.FlushLSN.Int64()
	cp.ReceivedLSN, cp.ReplayedLSN = st.ReceiveLSN.Int64(), st.ReplayLSN.Int64()
	cp.ReplayedTimestamp = st.ReplayTimestamp
	cp.ReplicationState = string(st.Receiver)
	return &cp
}

// poke wakes the loop for an immediate cycle.
func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run runs the HA loop until ctx ends, then exits as ExitMode says. It
// returns nil after a clean exit, the error that prevented the loop from
// starting, or one wrapping [ErrBootstrapFailed] when this node's
// bootstrap of a new cluster failed (the loop then stops at once). A
// Controller runs once.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return ErrRunning
	}
	c.started = true
	cand, err := election.New(c.store, c.o.Name, c.eopts())
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("failover: %w", err)
	}
	c.cand = cand
	loopCtx, cancel := context.WithCancel(ctx)
	c.mu.Unlock()
	c.lead.start(loopCtx)

	c.log.Info("failover: controller starting", "ttl", c.eopts().TTL, "loop_wait", c.o.Settings.LoopWait)
	c.wg.Add(2)
	go c.watchDCS(loopCtx)
	go c.watchPG(loopCtx)
	c.loop(loopCtx)

	cancel()
	c.wg.Wait()
	if c.o.ExitMode == ExitHandOver {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.HandOverTimeout)
		c.handOverOnExit(hctx)
		hcancel()
	}
	_ = cand.Close()
	c.waitHooks()
	c.log.Info("failover: controller stopped", "exit_mode", c.o.ExitMode)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}

// fatalErr returns the error that ends the loop, if any.
func (c *Controller) fatalErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}

// A burst of back-to-back cycles is cut short: after maxBurst cycles each
// started less than burstGap after the one before, the loop pauses for
// burstGap. Bursts are normal (each action asks for a cycle at once, and
// each of its own DCS writes wakes the loop again), but an action that
// "succeeds" without changing anything (a lost race, a key already cleared)
// or a decision waiting for something only time brings (the lease
// keepalive) must not spin the loop without the clock moving on.
const (
	maxBurst = 8
	burstGap = 20 * time.Millisecond
)

// loop runs cycles until ctx ends: at once after an action succeeded, on
// DCS and PostgreSQL events, at a decision's WaitUntil, and at least every
// loop_wait.
func (c *Controller) loop(ctx context.Context) {
	timer := c.clk.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	busy := 0
	for ctx.Err() == nil && c.fatalErr() == nil {
		if now := c.clk.Now(); !last.IsZero() && now.Sub(last) < burstGap {
			busy++
		} else {
			busy = 0
		}
		if busy > maxBurst {
			c.log.Warn("failover: the loop ran many cycles in a row; pausing", "cycles", busy, "pause", burstGap)
			timer.Reset(burstGap)
			select {
			case <-ctx.Done():
				return
			case <-timer.C():
			}
			busy = 0
		}
		last = c.clk.Now()
		next := c.cycle(ctx)
		d := max(next.Sub(c.clk.Now()), 0)
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-timer.C():
		}
	}
}

// watchDCS keeps the cluster view current (view.go) and wakes the loop on
// changes to the keys that drive decisions (leader, failover, config,
// initialize, sync, history); member and status keys change with the WAL
// positions and are read on the tick. A response is applied to the view
// before the loop is woken, so the cycle it starts sees it.
func (c *Controller) watchDCS(ctx context.Context) {
	defer c.wg.Done()
	retry := c.clk.NewTimer(0)
	defer retry.Stop()
	<-retry.C()
	for ctx.Err() == nil {
		epoch, sent := c.view.begin(), c.clk.Now()
		rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
		snap, err := c.store.Get(rctx)
		cancel()
		if err == nil {
			c.view.follow(snap, sent, epoch)
			for resp := range c.store.Watch(ctx, snap.Revision) {
				c.view.apply(resp, c.clk.Now())
				if relevant(resp) {
					c.poke()
				}
			}
			c.view.unfollow()
		}
		retry.Reset(c.o.Settings.LoopWait)
		select {
		case <-ctx.Done():
			return
		case <-retry.C():
		}
	}
}

func relevant(resp dcs.WatchResponse) bool {
	if resp.Snapshot != nil {
		return true
	}
	for _, ev := range resp.Events {
		k := ev.KV.Key
		if k != dcs.KeyStatus && !(len(k) > len(dcs.KeyMembersPrefix) && k[:len(dcs.KeyMembersPrefix)] == dcs.KeyMembersPrefix) {
			return true
		}
	}
	return false
}

// watchPG wakes the loop when the postmaster's state changes (a crash is
// seen within PGPollInterval, not at the next tick).
func (c *Controller) watchPG(ctx context.Context) {
	defer c.wg.Done()
	last := c.inst.State()
	t := c.clk.NewTimer(c.o.PGPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if s := c.inst.State(); s != last {
			last = s
			c.poke()
		}
		t.Reset(c.o.PGPollInterval)
	}
}

// LastDecision returns the decision of the latest cycle (zero before the
// first), for diagnostics: what the node is doing and why.
func (c *Controller) LastDecision() Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.lastDecision
}
