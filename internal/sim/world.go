package sim

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// scope is the simulated cluster's name.
const scope = "sim"

// world is the simulated machines: one in-memory DCS, one pgtest network,
// and per node a server, a gate and (while it runs) an agent.
type world struct {
	cfg    Config
	dc     *memory.Cluster
	net    *pgtest.Network
	obs    *memory.Store // the simulation's own DCS client, never faulted
	logger *slog.Logger
	// runCtx carries the Config's mutation to every Controller.
	runCtx context.Context
	events func(failover.Event)
	// key is the leader key's value at revision keyRev (leaderKey), and
	// memberSet the member names at membersRev (members).
	key        string
	keyRev     int64
	memberSet  map[string]bool
	membersRev int64

	mu    sync.Mutex // guards the fault state below, read by transports
	nodes []*node
	// outage counts active whole-DCS outages; stall is the delay of an
	// active DCSStall.
	outage int
	stall  time.Duration
	// pairs[a][b] counts active partitions between the agents a and b.
	pairs [][]int
}

// node is one simulated machine.
type node struct {
	name string
	srv  *pgtest.Server
	gate *gate
	clk  *nodeClock // the machine's clock, kept across agent restarts

	// Guarded by world.mu.
	store     *memory.Store // the running agent's DCS client
	ctrl      *failover.Controller
	api       http.Handler
	cancel    context.CancelFunc
	done      chan struct{}
	cutDCS    int  // active CutDCS faults
	hang      bool // the last CutDCS hangs calls
	delay     time.Duration
	isolated  int  // active IsolateAPI faults
	suspended bool // SuspendNode: clients cannot reach its PostgreSQL
	busy      bool

	// lat is the node's one-way network latency (to the DCS and to its
	// peers), distinct per node.
	lat time.Duration
}

func newWorld(cfg Config, lats []time.Duration, logger *slog.Logger, events func(failover.Event)) *world {
	dc := memory.NewCluster(memory.ClusterOptions{Logger: logger})
	w := &world{
		cfg:    cfg,
		dc:     dc,
		net:    pgtest.NewNetwork(nil),
		obs:    dc.Store(dcs.Prefix("", scope), memory.StoreOptions{}),
		logger: logger,
		runCtx: context.Background(),
		events: events,
	}
	if cfg.Mutation != "" {
		w.runCtx = mutation.With(w.runCtx, cfg.Mutation)
	}
	w.net.SetFenceKeepers(!cfg.NoFenceKeeper)
	w.net.SetBandwidth(pg.LSN(cfg.Bandwidth))
	w.pairs = make([][]int, cfg.Nodes)
	for i := range cfg.Nodes {
		w.pairs[i] = make([]int, cfg.Nodes)
		name := fmt.Sprintf("n%d", i+1)
		w.nodes = append(w.nodes, &node{name: name, srv: w.net.NewServer(name), gate: &gate{}, clk: &nodeClock{}, lat: lats[i]})
	}
	return w
}

// nodeByName returns the index of the node called name, or -1.
func (w *world) nodeByName(name string) int {
	for i, n := range w.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

// handler returns node i's health API while its agent runs.
func (w *world) handler(i int) http.Handler {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nodes[i].api
}

// partitioned reports whether traffic between the agents a and b is
// dropped.
func (w *world) partitioned(a, b int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nodes[a].isolated > 0 || w.nodes[b].isolated > 0 || w.pairs[a][b] > 0
}

// running reports whether node i's agent runs.
func (w *world) running(i int) bool { return w.controller(i) != nil }

// applyDCSFault sets node i's DCS client's reachability; w.mu held.
func (w *world) applyDCSFaultLocked(i int) {
	n := w.nodes[i]
	if n.store == nil {
		return
	}
	f := memory.Fault{Unavailable: w.outage > 0, Delay: max(n.delay, w.stall)}
	if n.cutDCS > 0 {
		f.Hang, f.Unavailable = n.hang, f.Unavailable || !n.hang
	}
	n.store.SetFault(f)
}

// startAgent creates and runs node i's Controller with a fresh DCS
// client, as a restarted agent process would.
func (w *world) startAgent(i int) error {
	n := w.nodes[i]
	if w.running(i) {
		// Two agents on one node would be a simulation defect: the first
		// would run on, unaccounted for.
		return fmt.Errorf("sim: node %s: an agent is already running", n.name)
	}
	store := w.dc.Store(dcs.Prefix("", scope), memory.StoreOptions{})
	inst := gatedServer{Server: n.srv, g: n.gate, clk: n.clk}
	addr := n.srv.Addr()
	co := failover.ControllerOptions{
		Name:       n.name,
		Scope:      scope,
		Store:      gatedStore{Store: store, g: n.gate, lat: n.lat},
		Instance:   inst,
		DataDir:    inst,
		ConnURL:    fmt.Sprintf("postgres://%s:%d/postgres", addr.Host, addr.Port),
		APIURL:     fmt.Sprintf("http://%s:8008/patroni", n.name),
		Settings:   w.cfg.Settings(),
		HTTPClient: &http.Client{Transport: &transport{w: w, from: i}},
		ExitMode:   failover.ExitAbandon,
		Logger:     w.logger,
		OnEvent:    w.events,
		Clock:      n.clk,
	}
	if i == 0 {
		co.Bootstrap = &pg.BootstrapOptions{}
	}
	if i == w.cfg.NoFailover {
		co.Tags = dcs.Tags{dcs.TagNoFailover: true}
	}
	ctrl, err := failover.NewController(co)
	if err != nil {
		return fmt.Errorf("sim: node %s: %w", n.name, err)
	}
	api, err := healthapi.New(healthapi.Options{Source: ctrl, Manager: ctrl, AllowUnauthenticated: true, Logger: w.logger})
	if err != nil {
		return fmt.Errorf("sim: node %s health API: %w", n.name, err)
	}
	ctx, cancel := context.WithCancel(w.runCtx)
	done := make(chan struct{})
	w.mu.Lock()
	n.store, n.ctrl, n.api, n.cancel, n.done = store, ctrl, api, cancel, done
	w.applyDCSFaultLocked(i)
	w.mu.Unlock()
	go func() {
		defer close(done)
		if err := ctrl.Run(ctx); err != nil {
			w.logger.Error("sim: controller did not run", "member", n.name, "err", err)
		}
	}()
	return nil
}

// stopAgent kills node i's agent (ExitAbandon: PostgreSQL and the DCS are
// left as they are) and waits until its goroutines are gone.
func (w *world) stopAgent(i int) {
	n := w.nodes[i]
	w.mu.Lock()
	cancel, done, store := n.cancel, n.done, n.store
	n.store, n.ctrl, n.api, n.cancel, n.done = nil, nil, nil, nil, nil
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	n.gate.thaw() // a killed process is not frozen any more
	cancel()
	<-done
	_ = store.Close()
}

// controller returns node i's running Controller, or nil.
func (w *world) controller(i int) *failover.Controller {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nodes[i].ctrl
}

// close stops every agent and the DCS.
func (w *world) close() {
	for i, n := range w.nodes {
		n.gate.thaw()
		w.stopAgent(i)
	}
	_ = w.obs.Close()
	_ = w.dc.Close()
}

// leaderKey returns the name in the leader key as the DCS holds it ("":
// none). It reads the key alone: parsing whole snapshots every step
// would dominate the run time.
func (w *world) leaderKey(ctx context.Context) (string, error) {
	if rev := w.dc.Revision(); rev == w.keyRev {
		return w.key, nil
	}
	snap, err := w.obs.Get(ctx)
	if err != nil {
		return "", fmt.Errorf("sim: read the DCS: %w", err)
	}
	w.keyRev, w.key = snap.Revision, ""
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyLeader {
			w.key = string(kv.Value)
		}
	}
	return w.key, nil
}

// members returns the names whose member keys the DCS holds.
func (w *world) members(ctx context.Context) map[string]bool {
	if rev := w.dc.Revision(); rev != w.membersRev {
		snap, err := w.obs.Get(ctx)
		if err != nil {
			return map[string]bool{}
		}
		w.membersRev, w.memberSet = snap.Revision, map[string]bool{}
		for _, kv := range snap.KVs {
			if name, ok := strings.CutPrefix(kv.Key, dcs.KeyMembersPrefix); ok {
				w.memberSet[name] = true
			}
		}
	}
	return maps.Clone(w.memberSet)
}

// primaries returns the indexes of the servers that run as primary: the
// ones that accept writes from the clients connected to them. A suspended
// machine accepts none until it resumes.
func (w *world) primaries(ctx context.Context) []int {
	var out []int
	for i, n := range w.nodes {
		w.mu.Lock()
		asleep := n.suspended
		w.mu.Unlock()
		if !asleep && isPrimary(ctx, n.srv) {
			out = append(out, i)
		}
	}
	return out
}

func isPrimary(_ context.Context, s *pgtest.Server) bool {
	return s.Role() == pg.RolePrimary
}
