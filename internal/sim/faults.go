package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// FaultKind is one kind of fault the simulation injects.
type FaultKind string

// The faults. Those with a length heal at its end; the others are
// instants.
const (
	// CrashNode kills agent and PostgreSQL together (the host dies); the
	// agent comes back at the end and finds a crashed server.
	CrashNode FaultKind = "crash-node"
	// CrashPG kills the postmaster; the agent lives.
	CrashPG FaultKind = "crash-pg"
	// KillAgent kills the agent; PostgreSQL keeps running and accepting
	// writes; the agent comes back at the end.
	KillAgent FaultKind = "kill-agent"
	// FreezeAgent stops the agent (SIGSTOP) while PostgreSQL keeps
	// running and accepting writes from its clients.
	FreezeAgent FaultKind = "freeze-agent"
	// CutDCS makes the DCS unreachable from one node: its calls fail at
	// once (connection refused) or hang until their timeout (the member
	// it talks to died, or a blackholed network).
	CutDCS FaultKind = "cut-dcs"
	// SlowDCS delays every DCS call of one node by up to 3 s; DCSStall
	// delays everyone's (a slow fsync on the etcd leader).
	SlowDCS  FaultKind = "slow-dcs"
	DCSStall FaultKind = "dcs-stall"
	// DCSOutage makes the DCS unreachable from every node (quorum lost).
	DCSOutage FaultKind = "dcs-outage"
	// RenewLeases restarts every lease's TTL, as etcd does when its raft
	// leader changes.
	RenewLeases FaultKind = "renew-leases"
	// IsolateAPI drops all traffic between one node's agent and its
	// peers' agents; the DCS stays reachable.
	IsolateAPI FaultKind = "isolate-api"
	// PartitionPair drops the traffic between two agents.
	PartitionPair FaultKind = "partition-pair"
	// CutReplication cuts one server off the replication network (it
	// neither streams nor serves WAL), so replicas fall behind.
	CutReplication FaultKind = "cut-replication"
	// Switchover asks the leader for a switchover, to a random candidate
	// or to none.
	Switchover FaultKind = "switchover"
	// ManualFailover asks for a failover to a random member.
	ManualFailover FaultKind = "manual-failover"
	// ChangeConfig changes ttl, loop_wait, failsafe_mode or (in a run that
	// started asynchronous) synchronous_mode in the config key.
	ChangeConfig FaultKind = "change-config"
	// SuspendNode suspends a whole machine: its agent, its PostgreSQL
	// (no writes, no replication) and its fence keeper stop. On resume
	// its monotonic clock has missed the sleep while its wall clock and
	// CLOCK_BOOTTIME have not, as after a suspend to RAM; or, drawn
	// half the time (keepsTime), every clock caught up, as after a
	// paused VM.
	SuspendNode FaultKind = "suspend-node"
	// StepClock steps one machine's wall clock (NTP, an operator) by
	// up to 5 min either way; its monotonic clock does not move.
	StepClock FaultKind = "step-clock"
)

// AllFaults lists every fault kind.
var AllFaults = []FaultKind{CrashNode, CrashPG, KillAgent, FreezeAgent, CutDCS, SlowDCS, DCSStall, DCSOutage, RenewLeases,
	IsolateAPI, PartitionPair, CutReplication, Switchover, ManualFailover, ChangeConfig, SuspendNode, StepClock}

// instant reports a fault without a length.
func (k FaultKind) instant() bool {
	switch k {
	case CrashPG, RenewLeases, Switchover, ManualFailover, ChangeConfig, StepClock:
		return true
	}
	return false
}

// fault is one scheduled fault.
type fault struct {
	kind   FaultKind
	at     time.Time
	length time.Duration
	node   int // the node it hits (or the first of a pair)
	peer   int // the second node of a pair; the candidate of a switchover (-1: none)
	// change is the config key change of ChangeConfig.
	change map[string]any
	// hang makes CutDCS hang calls rather than refuse them; delay is the
	// delay of SlowDCS and DCSStall, and the step of StepClock.
	hang  bool
	delay time.Duration
	// keepsTime: the SuspendNode machine's clocks all caught up.
	keepsTime bool
}

// end is the instant the fault heals.
func (f fault) end() time.Time { return f.at.Add(f.length) }

func (f fault) String() string {
	s := fmt.Sprintf("%s node=%d", f.kind, f.node)
	if f.kind == PartitionPair || f.kind == Switchover || f.kind == ManualFailover {
		s += fmt.Sprintf(" peer=%d", f.peer)
	}
	if !f.kind.instant() {
		s += fmt.Sprintf(" for %v", f.length)
	}
	if f.change != nil {
		s += fmt.Sprintf(" change=%v", f.change)
	}
	if f.hang {
		s += " hang"
	}
	if f.delay != 0 {
		s += fmt.Sprintf(" delay=%v", f.delay)
	}
	if f.keepsTime {
		s += " keeps-time"
	}
	return s
}

// schedule draws the faults of a run from rng: starts in the fault
// window at exponential gaps, lengths up to MaxFaultLength.
func schedule(rng *rand.Rand, c Config, start time.Time) []fault {
	kinds := c.Faults
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	var out []fault
	at := start.Add(c.Warmup)
	end := at.Add(c.FaultWindow)
	for {
		at = at.Add(time.Duration(rng.ExpFloat64() * float64(c.MeanFaultGap)))
		if !at.Before(end) {
			return out
		}
		f := fault{kind: kinds[rng.IntN(len(kinds))], at: at, node: rng.IntN(c.Nodes), peer: -1}
		if !f.kind.instant() {
			f.length = c.Timing.LoopWait/2 + time.Duration(rng.Int64N(int64(c.MaxFaultLength)))
		}
		switch f.kind {
		case PartitionPair:
			f.peer = (f.node + 1 + rng.IntN(c.Nodes-1)) % c.Nodes
		case Switchover, ManualFailover:
			if f.kind == ManualFailover || rng.IntN(2) == 0 {
				f.peer = rng.IntN(c.Nodes)
			}
		case ChangeConfig:
			f.change = configChange(rng, c)
		case CutDCS:
			f.hang = rng.IntN(2) == 0
		case SlowDCS, DCSStall:
			f.delay = time.Duration(100+rng.IntN(2900)) * time.Millisecond
		case StepClock:
			f.delay = time.Duration(1+rng.IntN(300)) * time.Second
			if rng.IntN(2) == 0 {
				f.delay = -f.delay
			}
		case SuspendNode:
			f.keepsTime = rng.IntN(2) == 0
		}
		out = append(out, f)
	}
}

// configChange draws one change of the config key.
func configChange(rng *rand.Rand, c Config) map[string]any {
	switch rng.IntN(4) {
	case 0:
		t := Timings[rng.IntN(2)] // not Patroni's: a 30 s ttl outlasts short runs
		return map[string]any{"ttl": t.TTL.Seconds(), "loop_wait": t.LoopWait.Seconds()}
	case 1:
		// 10 is Patroni's default, set through the API by many operators.
		return map[string]any{"loop_wait": float64([]int{1, 2, 10}[rng.IntN(3)])}
	case 2:
		if c.SyncMode == "" {
			// Only a run that started asynchronous turns synchronous mode
			// on and off: the no-loss check holds in runs that stay
			// synchronous throughout.
			return map[string]any{"synchronous_mode": rng.IntN(2) == 0}
		}
		fallthrough
	default:
		return map[string]any{"failsafe_mode": rng.IntN(2) == 0}
	}
}
