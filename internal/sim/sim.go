package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing/synctest"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg/pgtest"
)

// tailLines is how many lines of the event log and of the agents' logs a
// failure report carries.
const tailLines = 120

// Stats summarise one run.
type Stats struct {
	Faults      int
	Promotions  int
	WritesAcked int
	// KeeperFences counts primaries the out-of-agent fence stopped.
	KeeperFences int
	// LossyPromotions counts promotions that lost acknowledged commits
	// (asynchronous runs); MaxLoss is the most bytes one lost, and
	// MaxAvoidableLoss the most of it that a surviving node held.
	LossyPromotions  int
	MaxLoss          int64
	MaxAvoidableLoss int64
	// LongestUnavailable is the longest time without a primary that held
	// the leader key, after the warmup.
	LongestUnavailable time.Duration
}

// add accumulates o into s.
func (s *Stats) add(o Stats) {
	s.Faults += o.Faults
	s.Promotions += o.Promotions
	s.WritesAcked += o.WritesAcked
	s.KeeperFences += o.KeeperFences
	s.LossyPromotions += o.LossyPromotions
	s.MaxLoss = max(s.MaxLoss, o.MaxLoss)
	s.MaxAvoidableLoss = max(s.MaxAvoidableLoss, o.MaxAvoidableLoss)
	s.LongestUnavailable = max(s.LongestUnavailable, o.LongestUnavailable)
}

// Result is the outcome of one run.
type Result struct {
	Seed   uint64
	Config Config
	Stats  Stats
	// LogHash is the SHA-256 of the event log (faults, promotions, leader
	// key changes and the Controllers' role events, with virtual times).
	LogHash [32]byte
	// Violation is nil when every invariant held; otherwise it names the
	// invariant, the seed, and the tails of the event log and the agents'
	// logs.
	Violation error
}

// Run simulates cfg under the faults drawn from seed. It must be called
// inside a synctest bubble (testing/synctest.Test): every goroutine of the
// run, the Controllers' included, lives in the bubble and time is the
// bubble's virtual clock. full, when not nil, receives the complete event
// log and the agents' logs as they happen.
func Run(seed uint64, cfg Config, full io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := shiftChecked(); err != nil {
		return Result{}, err
	}
	s := newSim(seed, cfg, full)
	s.run()
	res := Result{Seed: seed, Config: cfg, Stats: s.stats, Violation: s.failure}
	copy(res.LogHash[:], s.hash.Sum(nil))
	return res, nil
}

// sim is one run.
type sim struct {
	cfg   Config
	seed  uint64
	rng   *rand.Rand
	w     *world
	ctx   context.Context
	start time.Time

	// logMu guards the logs: the Controllers' event hooks write from their
	// goroutines.
	logMu   sync.Mutex
	events  []string // tail of the event log
	agent   []string // tail of the agents' logs
	full    io.Writer
	hash    hashWriter
	stats   Stats
	failure error

	faults  []fault
	active  []fault // faults in progress, healed at their end
	pending sync.WaitGroup
	reqCtx  context.Context
	stopReq context.CancelFunc

	// Invariant state.
	commits     map[*pgtest.Commit]int64 // acknowledged commits and their sizes
	waiting     []*pgtest.Commit
	sizes       map[*pgtest.Commit]int64
	lost        map[*pgtest.Commit]bool // counted lost at an earlier promotion
	lastTL      []uint32                // each server's timeline a step before
	upSince     []time.Time             // since when each server runs (trackUp)
	prevMembers map[string]bool         // the member keys at the step before
	lastLeader  string
	keyStaleAt  time.Time // since when the key names a node not running a primary
	downSince   time.Time // since when no primary holds the key
	healedAt    time.Time // when the last fault healed
	maxSettings failover.Settings
	lastWrite   time.Time
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newSim(seed uint64, cfg Config, full io.Writer) *sim {
	s := &sim{
		cfg:     cfg,
		seed:    seed,
		rng:     newRNG(seed),
		ctx:     context.Background(),
		start:   time.Now(),
		full:    full,
		hash:    sha256.New(),
		commits: map[*pgtest.Commit]int64{},
		sizes:   map[*pgtest.Commit]int64{},
		lost:    map[*pgtest.Commit]bool{},
		lastTL:  make([]uint32, cfg.Nodes),
		upSince: make([]time.Time, cfg.Nodes),

		maxSettings: cfg.Settings(),
	}
	s.reqCtx, s.stopReq = context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(agentLog{s}, &slog.HandlerOptions{Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String("t", s.since(a.Value.Time()))
			}
			return a
		}}))
	// Latencies from 0.2 to 2 ms, a distinct multiple of 10 µs per node.
	lats := make([]time.Duration, cfg.Nodes)
	for i, v := range s.rng.Perm(180)[:cfg.Nodes] {
		lats[i] = time.Duration(20+v) * 10 * time.Microsecond
	}
	s.w = newWorld(cfg, lats, logger, s.onEvent)
	s.faults = schedule(s.rng, cfg, s.start)
	return s
}

// newRNG is the run's random source: everything random in a run is
// drawn from it, in the driver's goroutine.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xfa17)) }

// since formats a virtual instant relative to the start.
func (s *sim) since(t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(s.start).Seconds())
}

// logf appends a line to the event log.
func (s *sim) logf(format string, args ...any) {
	s.log(true, format, args...)
}

// log appends a line to the event log; outcome lines (what the driver
// sees at its steps: faults, promotions, leader key changes, violations)
// also go into the run's hash, the Controllers' own events (ordered as
// their goroutines happened to run) do not.
func (s *sim) log(outcome bool, format string, args ...any) {
	line := s.since(time.Now()) + " " + fmt.Sprintf(format, args...)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.events = appendTail(s.events, line)
	if outcome {
		fmt.Fprintln(s.hash, line)
	}
	if s.full != nil {
		fmt.Fprintln(s.full, line)
	}
}

func appendTail(lines []string, line string) []string {
	if len(lines) >= tailLines {
		lines = slices.Delete(lines, 0, len(lines)-tailLines+1)
	}
	return append(lines, line)
}

// agentLog collects the Controllers' logs.
type agentLog struct{ s *sim }

func (a agentLog) Write(p []byte) (int, error) {
	a.s.logMu.Lock()
	defer a.s.logMu.Unlock()
	line := strings.TrimRight(string(p), "\n")
	a.s.agent = appendTail(a.s.agent, line)
	if a.s.full != nil {
		fmt.Fprintln(a.s.full, "  | "+line)
	}
	return len(p), nil
}

func (s *sim) onEvent(e failover.Event) {
	s.log(false, "event %s %s: %s", e.Member, e.Kind, e.Detail)
}

// fail records the first invariant violation.
func (s *sim) fail(invariant, format string, args ...any) {
	if s.failure != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.logf("VIOLATION %s: %s", invariant, msg)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "seed %d (%s, %d nodes, synchronous_mode %q strict %t, failsafe %t, nofailover %d, mutation %q): invariant %q violated at %s: %s\n",
		s.seed, s.cfg.Timing.Name, s.cfg.Nodes, s.cfg.SyncMode, s.cfg.Strict, s.cfg.Failsafe, s.cfg.NoFailover, s.cfg.Mutation, invariant, s.since(time.Now()), msg)
	fmt.Fprintf(&b, "replay: go test ./internal/sim -run TestSimulation -sim.seed=%d\n--- event log (tail) ---\n%s\n--- agents' logs (tail) ---\n%s",
		s.seed, strings.Join(s.events, "\n"), strings.Join(s.agent, "\n"))
	s.failure = fmt.Errorf("%s", b.String())
}

// run drives the simulation: every Step it lets the bubble settle, moves
// WAL, writes, starts and heals faults, and checks the invariants.
func (s *sim) run() {
	defer s.w.close()
	defer s.pending.Wait()
	defer s.stopReq()
	s.logf("start: %d nodes, timing %s (ttl %v, loop_wait %v), synchronous_mode %q strict %t, failsafe %t, %d faults, mutation %q",
		s.cfg.Nodes, s.cfg.Timing.Name, s.cfg.Timing.TTL, s.cfg.Timing.LoopWait, s.cfg.SyncMode, s.cfg.Strict, s.cfg.Failsafe, len(s.faults), s.cfg.Mutation)
	for i := range s.cfg.Nodes {
		if err := s.w.startAgent(i); err != nil {
			s.fail("setup", "%v", err)
			return
		}
	}
	faultsEnd := s.start.Add(s.cfg.Warmup + s.cfg.FaultWindow)
	for _, f := range s.faults {
		faultsEnd = later(faultsEnd, f.end())
	}
	end := faultsEnd.Add(s.cfg.Settle)
	s.healedAt = s.start.Add(s.cfg.Warmup)
	for s.failure == nil && time.Now().Before(end) {
		time.Sleep(s.cfg.Step)
		synctest.Wait()
		now := time.Now()
		s.w.net.Step()
		if now.Sub(s.lastWrite) >= s.cfg.WriteEvery {
			s.lastWrite = now
			s.write()
		}
		s.heal(now)
		for len(s.faults) > 0 && !s.faults[0].at.After(now) {
			s.inject(s.faults[0])
			s.faults = s.faults[1:]
		}
		synctest.Wait()
		s.check(time.Now())
	}
	if s.failure == nil {
		s.finalCheck()
	}
	for _, n := range s.w.nodes {
		s.stats.KeeperFences += n.srv.KeeperFences()
	}
	s.logf("end: %+v", s.stats)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// write has every client write one commit to the server it is connected
// to: one client per node, connected whatever the node's role, so a
// stale primary's writes are modelled too. Only running primaries accept.
func (s *sim) write() {
	for i, n := range s.w.nodes {
		s.w.mu.Lock()
		asleep := n.suspended
		s.w.mu.Unlock()
		if asleep || !isPrimary(s.ctx, n.srv) {
			continue
		}
		size := int64(1 + s.rng.IntN(s.cfg.MaxCommit))
		c, err := n.srv.Commit(int(size))
		if err != nil {
			s.log(false, "write on %s refused: %v", s.w.nodes[i].name, err)
			continue
		}
		s.sizes[c] = size
		s.waiting = append(s.waiting, c)
	}
	// Collect acknowledgements (synchronous commits are acknowledged in
	// Network.Step once standbys have them).
	keep := s.waiting[:0]
	for _, c := range s.waiting {
		switch c.State() {
		case pgtest.CommitWaiting:
			keep = append(keep, c)
			continue
		case pgtest.CommitAcknowledged:
			s.commits[c] = s.sizes[c]
			s.stats.WritesAcked++
		}
		delete(s.sizes, c) // settled: acknowledged, or its outcome unknown
	}
	s.waiting = keep
}

// inject starts a fault.
func (s *sim) inject(f fault) {
	w := s.w
	n := w.nodes[f.node]
	w.mu.Lock()
	busy := n.busy && !f.kind.instant() || f.kind == PartitionPair && w.nodes[f.peer].busy
	w.mu.Unlock()
	if busy {
		s.logf("fault skipped (node %s already faulted): %v", n.name, f)
		return
	}
	s.stats.Faults++
	s.logf("fault %v", f)
	switch f.kind {
	case CrashNode:
		w.stopAgent(f.node)
		n.srv.Crash()
	case CrashPG:
		n.srv.Crash()
	case KillAgent:
		w.stopAgent(f.node)
	case FreezeAgent:
		n.gate.freeze()
	case CutDCS:
		w.mu.Lock()
		n.cutDCS++
		n.hang = f.hang
		w.applyDCSFaultLocked(f.node)
		w.mu.Unlock()
	case SlowDCS:
		w.mu.Lock()
		n.delay = f.delay
		w.applyDCSFaultLocked(f.node)
		w.mu.Unlock()
	case DCSStall:
		w.mu.Lock()
		w.stall = f.delay
		for i := range w.nodes {
			w.applyDCSFaultLocked(i)
		}
		w.mu.Unlock()
	case DCSOutage:
		w.mu.Lock()
		w.outage++
		for i := range w.nodes {
			w.applyDCSFaultLocked(i)
		}
		w.mu.Unlock()
	case RenewLeases:
		w.dc.RenewAllLeases()
	case IsolateAPI:
		w.mu.Lock()
		n.isolated++
		w.mu.Unlock()
	case PartitionPair:
		w.mu.Lock()
		w.pairs[f.node][f.peer]++
		w.pairs[f.peer][f.node]++
		w.mu.Unlock()
	case CutReplication:
		n.srv.Isolate()
	case SuspendNode:
		n.gate.freeze()
		n.srv.Isolate()
		w.mu.Lock()
		n.suspended = true
		w.mu.Unlock()
	case StepClock:
		n.clk.step(f.delay)
	case Switchover, ManualFailover:
		s.request(f)
	case ChangeConfig:
		s.changeConfig(f)
	}
	if f.kind.instant() {
		// A lease renewal lets a dead holder's key live a ttl longer, and
		// a switchover, failover or config change may legitimately take
		// the primary away for a while: the bounds count from here.
		s.healedAt = time.Now()
		if !s.keyStaleAt.IsZero() {
			s.keyStaleAt = s.healedAt
		}
	}
	if !f.kind.instant() {
		w.mu.Lock()
		n.busy = true
		if f.kind == PartitionPair {
			w.nodes[f.peer].busy = true
		}
		w.mu.Unlock()
		s.active = append(s.active, f)
	}
}

// heal ends the faults whose time is up.
func (s *sim) heal(now time.Time) {
	keep := s.active[:0]
	for _, f := range s.active {
		if f.end().After(now) {
			keep = append(keep, f)
			continue
		}
		s.healOne(f)
		s.healedAt = now
	}
	s.active = keep
	if len(s.active) > 0 {
		s.healedAt = now
	}
}

func (s *sim) healOne(f fault) {
	w := s.w
	n := w.nodes[f.node]
	s.logf("heal %v", f)
	switch f.kind {
	case CrashNode, KillAgent:
		if err := w.startAgent(f.node); err != nil {
			s.fail("setup", "%v", err)
		}
	case FreezeAgent:
		n.gate.thaw()
	case CutDCS:
		w.mu.Lock()
		n.cutDCS--
		w.applyDCSFaultLocked(f.node)
		w.mu.Unlock()
	case SlowDCS:
		w.mu.Lock()
		n.delay = 0
		w.applyDCSFaultLocked(f.node)
		w.mu.Unlock()
	case DCSStall:
		w.mu.Lock()
		w.stall = 0
		for i := range w.nodes {
			w.applyDCSFaultLocked(i)
		}
		w.mu.Unlock()
	case DCSOutage:
		w.mu.Lock()
		w.outage--
		for i := range w.nodes {
			w.applyDCSFaultLocked(i)
		}
		w.mu.Unlock()
	case IsolateAPI:
		w.mu.Lock()
		n.isolated--
		w.mu.Unlock()
	case PartitionPair:
		w.mu.Lock()
		w.pairs[f.node][f.peer]--
		w.pairs[f.peer][f.node]--
		w.mu.Unlock()
	case CutReplication:
		n.srv.Rejoin()
	case SuspendNode:
		if !f.keepsTime {
			n.clk.suspended(f.length)
		}
		n.srv.Rejoin()
		w.mu.Lock()
		n.suspended = false
		w.mu.Unlock()
		n.gate.thaw()
	}
	w.mu.Lock()
	n.busy = false
	if f.kind == PartitionPair {
		w.nodes[f.peer].busy = false
	}
	w.mu.Unlock()
}

// request sends a switchover or manual failover to a running agent, as
// pgha-ctl would, and logs the answer when it comes.
func (s *sim) request(f fault) {
	via := -1
	if l, err := s.w.leaderKey(s.ctx); err == nil && l != "" {
		via = s.w.nodeByName(l)
	}
	if via < 0 || s.w.controller(via) == nil {
		via = f.node
	}
	ctrl := s.w.controller(via)
	if ctrl == nil {
		s.logf("%s not sent: no agent runs on %s", f.kind, s.w.nodes[via].name)
		return
	}
	cand := ""
	if f.peer >= 0 {
		cand = s.w.nodes[f.peer].name
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(s.reqCtx, 30*time.Second)
		defer cancel()
		var res healthapi.Result
		var err error
		if f.kind == Switchover {
			leader, _ := s.w.leaderKey(ctx)
			res, err = ctrl.Switchover(ctx, healthapi.SwitchoverRequest{Leader: leader, Candidate: cand})
		} else {
			res, err = ctrl.Failover(ctx, healthapi.FailoverRequest{Candidate: cand})
		}
		s.log(false, "%s to %q via %s: %q %v", f.kind, cand, s.w.nodes[via].name, res.Message, err)
	}()
}

// changeConfig patches the config key, as patronictl edit-config does.
func (s *sim) changeConfig(f fault) {
	w := s.w
	w.mu.Lock()
	outage := w.outage > 0
	w.mu.Unlock()
	if outage {
		s.logf("config change not written: the DCS is down")
		return
	}
	snap, err := w.obs.Get(s.ctx)
	if err != nil {
		s.logf("config change: %v", err)
		return
	}
	cfg := map[string]any{}
	var rev int64
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyConfig {
			rev = kv.ModRevision
			if err := json.Unmarshal(kv.Value, &cfg); err != nil {
				s.fail("setup", "config key %q: %v", kv.Value, err)
				return
			}
		}
	}
	for k, v := range f.change {
		cfg[k] = v
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		s.fail("setup", "config: %v", err)
		return
	}
	cond := dcs.Cond{Absent: true}
	if rev != 0 {
		cond = dcs.Cond{ModRevision: rev}
	}
	if _, err := w.obs.Put(s.ctx, dcs.KeyConfig, data, 0, cond); err != nil {
		s.logf("config change not written: %v", err)
		return
	}
	eff := s.cfg.Settings().WithConfig(dcs.Parse(dcs.Snapshot{KVs: []dcs.KV{{Key: dcs.KeyConfig, Value: data}}}).Config)
	s.maxSettings.TTL = max(s.maxSettings.TTL, eff.TTL)
	s.maxSettings.LoopWait = max(s.maxSettings.LoopWait, eff.LoopWait)
}
