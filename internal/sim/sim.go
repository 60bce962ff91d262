package sim

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

// tailLines is how much of the event log a failure report carries.
const tailLines = 80

// Stats summarise one run.
type Stats struct {
	Events        int
	Faults        int
	Promotions    int
	Decisions     int
	WritesAcked   int
	WritesRefused int
	// WritesFailed counts commits that waited for synchronous standbys
	// and never got an answer (their primary stopped first).
	WritesFailed int
	// LossyPromotions counts promotions that lost acknowledged commits;
	// MaxLoss is the largest loss in bytes, and MaxAvoidableLoss the
	// largest part of a loss that a surviving node still held (bounded by
	// maximum_lag_on_failover).
	LossyPromotions  int
	MaxLoss          int64
	MaxAvoidableLoss int64
	// MaxPromotedLag is the most acknowledged WAL a promoted node lacked
	// relative to a node that answered its race's peer query.
	MaxPromotedLag int64
	// RawPrimaryOverlap is virtual time during which two PostgreSQL
	// servers ran as primary at once (at most one of them writable).
	RawPrimaryOverlap time.Duration
}

// Result is the outcome of one run.
type Result struct {
	Seed   uint64
	Config Config
	Stats  Stats
	// LogHash is the SHA-256 of the complete event log.
	LogHash [32]byte
	// Violation is nil when every invariant held; otherwise it names the
	// invariant, the seed and the tail of the event log.
	Violation error
}

// node is one simulated machine: PostgreSQL, the agent, its DCS handle and
// its network conditions.
type node struct {
	name  string
	tags  dcs.Tags
	pg    pgSim
	agent *agent
	store *memory.Store

	dcsDelay      time.Duration // slow DCS fault
	baseLatency   time.Duration
	replLatency   time.Duration // while replSlowUntil
	replSlowUntil time.Time
	faulted       bool // a fault of this node is active

	// Invariant bookkeeping.
	wasWritable bool
	writableEnd time.Time // latest instant its last writable interval may reach
	zombieSince time.Time
}

// Sim is one simulation run. It is not safe for concurrent use; run
// different seeds in different Sims.
type Sim struct {
	cfg  Config
	seed uint64
	rng  *rand.Rand

	clk      *clock.Fake
	now      time.Time
	start    time.Time
	dc       *memory.Cluster
	observer *memory.Store
	ctx      context.Context

	q   eventQueue
	seq uint64

	nodes     []*node
	tlSeq     int
	acks      ackRule
	acked     []*commit
	commitSeq int
	sysID     string

	members   map[memberKey]*dcs.Member
	histories map[int64]dcs.History

	leaderDirty   bool // the leader key may have changed since afterEvent looked
	lastLeaderRev int64
	leader        *dcs.Leader // ground truth, refreshed after every event

	stats     Stats
	lastCheck time.Time
	failure   error
	faultsEnd time.Time
	end       time.Time

	full io.Writer
	hash hash.Hash
	tail []string
}

// Run simulates one seed with cfg. log, when non-nil, receives the complete
// event log. The error is for an invalid cfg; invariant violations are in
// Result.Violation.
func Run(seed uint64, cfg Config, log io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s := &Sim{
		cfg: cfg, seed: seed,
		rng:       rand.New(rand.NewPCG(seed, 0x51a_7e57)),
		clk:       clk,
		now:       start,
		start:     start,
		ctx:       context.Background(),
		acks:      ackRuleFor(cfg),
		full:      log,
		hash:      sha256.New(),
		members:   map[memberKey]*dcs.Member{},
		histories: map[int64]dcs.History{},
	}
	s.dc = memory.NewCluster(memory.ClusterOptions{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	defer s.dc.Close()
	prefix := dcs.Prefix("", "sim")
	s.observer = s.dc.Store(prefix, memory.StoreOptions{RequestTimeout: cfg.RequestTimeout})
	s.sysID = fmt.Sprintf("%d", 7000000000000000000+s.rng.Int64N(1e18))
	s.faultsEnd = start.Add(cfg.Warmup + cfg.FaultWindow)
	s.end = s.faultsEnd.Add(cfg.Settle)

	s.logf("seed %d: %d nodes (tags %v), ttl %v, loop_wait %v, primary_start_timeout %v, maximum_lag_on_failover %d, use_pg_rewind %v, remove_data %v/%v",
		seed, cfg.Nodes, cfg.Tags, cfg.Settings.TTL, cfg.Settings.LoopWait, cfg.Settings.PrimaryStartTimeout,
		cfg.Settings.MaximumLagOnFailover, cfg.Settings.UsePgRewind, cfg.Settings.RemoveDataOnRewindFailure, cfg.Settings.RemoveDataOnDivergedTimelines)
	for i := range cfg.Nodes {
		lat := between(s.rng, cfg.ReplicationLatency[0], cfg.ReplicationLatency[1])
		n := &node{
			name:        fmt.Sprintf("n%d", i+1),
			pg:          pgSim{dataEmpty: true, state: "stopped"},
			store:       s.dc.Store(prefix, memory.StoreOptions{RequestTimeout: cfg.RequestTimeout}),
			baseLatency: lat,
			replLatency: lat,
		}
		if i < len(cfg.Tags) {
			n.tags = cfg.Tags[i]
		}
		s.nodes = append(s.nodes, n)
	}
	for _, n := range s.nodes {
		s.startAgent(n)
	}
	s.after(cfg.Warmup, s.clientWrite)
	s.scheduleFaults()
	s.at(s.faultsEnd, s.healAll)

	for s.failure == nil && s.q.Len() > 0 {
		ev := heap.Pop(&s.q).(*event)
		if ev.at.After(s.end) {
			break
		}
		if ev.at.After(s.now) {
			s.advance(ev.at)
		}
		s.stats.Events++
		ev.fn()
		s.afterEvent()
	}
	if s.failure == nil {
		if s.now.Before(s.end) {
			s.advance(s.end)
			s.afterEvent()
		}
		if s.failure == nil {
			s.checkLiveness()
		}
	}
	for _, n := range s.nodes {
		if a := n.agent; a != nil {
			a.ka.kill()
			a.ha.kill()
		}
	}
	res := Result{Seed: seed, Config: cfg, Stats: s.stats, Violation: s.failure}
	copy(res.LogHash[:], s.hash.Sum(nil))
	return res, nil
}

// advance moves the virtual clock to t and expires the leases that are due
// then, so that expiry happens at a fixed point of the event order. No
// lease can fall due again before the next advance, so afterwards the
// leader key changes only by an agent's acquire or release.
func (s *Sim) advance(t time.Time) {
	before := s.dc.Revision() // nothing new is due before the clock moves
	s.clk.Advance(t.Sub(s.now))
	s.now = t
	s.dc.ExpireNow()
	if s.dc.Revision() != before {
		s.leaderDirty = true
	}
}

// byName returns the node called name, or nil.
func (s *Sim) byName(name string) *node {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// debugf writes a detail line (WAL shipping) to the full event log only:
// it is not part of the tail or the hash, to keep the many-seed run fast.
func (s *Sim) debugf(format string, args ...any) {
	if s.full != nil {
		fmt.Fprintf(s.full, "%9.3f "+format+"\n", append([]any{s.now.Sub(s.start).Seconds()}, args...)...)
	}
}

// logf appends one line to the event log.
func (s *Sim) logf(format string, args ...any) {
	line := fmt.Sprintf("%9.3f ", s.now.Sub(s.start).Seconds()) + fmt.Sprintf(format, args...) + "\n"
	s.hash.Write([]byte(line))
	if s.full != nil {
		io.WriteString(s.full, line)
	}
	if len(s.tail) == tailLines {
		copy(s.tail, s.tail[1:])
		s.tail = s.tail[:tailLines-1]
	}
	s.tail = append(s.tail, line)
}

// fail records the first invariant violation.
func (s *Sim) fail(invariant, format string, args ...any) {
	if s.failure != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.logf("VIOLATION %s: %s", invariant, msg)
	s.failure = fmt.Errorf("seed %d: invariant %q violated at +%v: %s\nreplay: go test ./internal/sim/ -run TestSimulation -sim.seed=%d\nlast events:\n%s",
		s.seed, invariant, s.now.Sub(s.start), msg, s.seed, strings.Join(s.tail, ""))
}

// afterEvent refreshes what runs continuously (WAL receiver heartbeats,
// watch notifications) and checks the invariants.
func (s *Sim) afterEvent() {
	for _, n := range s.nodes {
		if s.streamOK(n) {
			n.pg.lastReceipt = s.now
		}
	}
	if s.leaderDirty {
		s.leaderDirty = false
		snap, err := s.observer.Get(s.ctx)
		if err != nil {
			s.fail("harness", "observer read failed: %v", err)
			return
		}
		var l *dcs.Leader
		for _, kv := range snap.KVs {
			if kv.Key == dcs.KeyLeader {
				l = &dcs.Leader{Name: string(kv.Value), Revision: kv.CreateRevision, Lease: kv.Lease}
			}
		}
		var lrev int64
		if l != nil {
			lrev = l.Revision
		}
		if lrev != s.lastLeaderRev {
			s.lastLeaderRev = lrev
			if l == nil {
				s.logf("leader key gone")
			} else {
				s.logf("leader key created by %s (revision %d)", l.Name, l.Revision)
			}
			for _, n := range s.nodes {
				if a := n.agent; a != nil && !n.store.Fault().Unavailable {
					a.ha.kick(s.cfg.WatchLatency + n.dcsDelay)
				}
			}
		}
		s.leader = l
	}
	s.checkSafety()
}
