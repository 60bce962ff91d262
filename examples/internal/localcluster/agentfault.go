package localcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// AgentFault names what happens to the primary's agent, while its
// PostgreSQL keeps running, in the scenarios of issue 14 ("a fence that
// does not need a live agent"): the agent's fence keeper (package fence)
// must stop the postmaster at the term's deadline, before the lease can
// expire and a replica be promoted.
type AgentFault int

const (
	// AgentFrozen stops the agent with SIGSTOP ([Cluster.FreezeAgent])
	// and continues it with SIGCONT after the hold.
	AgentFrozen AgentFault = iota + 1
	// AgentKilled SIGKILLs the agent only ([Cluster.KillAgent]) and starts
	// it again after the hold.
	AgentKilled
)

// String names the fault.
func (f AgentFault) String() string {
	switch f {
	case AgentFrozen:
		return "primary's agent frozen (SIGSTOP)"
	case AgentKilled:
		return "primary's agent killed (SIGKILL)"
	}
	return fmt.Sprintf("AgentFault(%d)", int(f))
}

// AgentFaultOptions configure [Cluster.RunAgentFault]. Zero values take
// the defaults named, from the cluster's ttl (the config key's, default
// 6 s).
type AgentFaultOptions struct {
	// Hold is how long the agent stays frozen or dead; default 3 ttl:
	// the lease expires and a replica takes over well within it.
	Hold time.Duration
	// Timeout bounds every other wait (the fence keeper before the fault,
	// the first recorded writes, health after the agent is back, reading
	// the writes back); default 90 s.
	Timeout time.Duration
	// Prepare, when set, runs once the recordings run, just before the
	// agent is signalled (for example a PostgreSQL crash, so that the
	// agent is hit right after it restarted the server in place). The
	// postmaster judged is the one running when it returns.
	Prepare func(ctx context.Context) error
}

// AgentFaultRun is what one run of an agent fault did. Times are of this
// process's clock; a zero time means "did not happen" (within the hold,
// for the process exits).
type AgentFaultRun struct {
	Fault AgentFault
	// Leader is the primary whose agent was hit; LeaderAfter the leader
	// once the cluster was healthy again with that agent back.
	Leader, LeaderAfter string
	// Timeline and TimelineAfter are the cluster timeline (history key)
	// before and after.
	Timeline, TimelineAfter int64
	// TTL is the cluster's ttl, Hold the hold applied.
	TTL, Hold time.Duration

	// AgentPID and AgentSession are the agent's pid and session id,
	// Postmaster the old primary's postmaster pid, Keeper the fence keeper
	// the agent had started, all read before the fault.
	AgentPID, AgentSession, Postmaster int
	Keeper                             FenceKeeper

	// FaultAt is when the agent was signalled (just before).
	FaultAt time.Time
	// PostmasterGone and KeeperGone are when polling (every 10 ms, until
	// the hold ended) first found the old postmaster, and the keeper,
	// gone.
	PostmasterGone, KeeperGone time.Time
	// LeaseExpired is when the watch received the first deletion of the
	// leader key after the fault.
	LeaseExpired time.Time
	// NewLeader is the first other member that took the leader key after
	// the fault, NewLeaderAt when the watch received it.
	NewLeader   string
	NewLeaderAt time.Time
	// OldLastAck is the last write the old primary acknowledged, through
	// any writer; NewFirstProxy and NewFirstDirect are the first writes the
	// new leader acknowledged through HAProxy and directly after the fault
	// (zero Ack when none).
	OldLastAck                    Ack
	NewFirstProxy, NewFirstDirect Ack
	// ResumeAt is when the agent was continued or started again, HealthyAt
	// when the cluster was healthy again after that; Rejoined is the old
	// primary's member key then.
	ResumeAt, HealthyAt time.Time
	Rejoined            *dcs.Member

	// Analysis judges the whole recording, with the write gaps measured
	// from the fault until the agent was back; Verify is the acknowledged
	// writes read back from the final primary.
	Analysis Analysis
	Verify   VerifyResult
	// ProxyErrors and DirectErrors are the writers' failed attempts.
	ProxyErrors, DirectErrors int
}

// RunAgentFault runs fault f once against the healthy cluster led by
// leader: it reads the primary's agent, postmaster and fence keeper,
// starts an [Observer], signals the agent, polls the old postmaster and
// the keeper until Hold after the fault, continues or restarts the agent,
// waits until the cluster is healthy again (the old primary back as a
// streaming replica), then judges the recordings and reads the
// acknowledged writes back from the primary. An error means the run could
// not be completed (the agent is continued or restarted in any case); what
// the fault did is in the result, as far as it got, for the caller to
// judge.
func (c *Cluster) RunAgentFault(ctx context.Context, leader string, f AgentFault, o AgentFaultOptions) (AgentFaultRun, error) {
	run := AgentFaultRun{Fault: f, Leader: leader}
	if f != AgentFrozen && f != AgentKilled {
		return run, fmt.Errorf("%w: unknown agent fault %d", ErrInvalidOptions, int(f))
	}
	n, err := c.node(leader)
	if err != nil {
		return run, err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return run, err
	}
	run.Timeline = snap.Timeline()
	run.TTL = configTTL(snap)
	if o.Hold <= 0 {
		o.Hold = 3 * run.TTL
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	run.Hold = o.Hold

	if run.AgentPID = n.AgentPID(); run.AgentPID == 0 {
		return run, fmt.Errorf("%w: agent %s", ErrNotRunning, leader)
	}
	run.AgentSession = processSession(run.AgentPID)
	if run.Postmaster, err = n.PostmasterPID(); err != nil || run.Postmaster == 0 {
		return run, fmt.Errorf("localcluster: postmaster of %s: pid %d, %v", leader, run.Postmaster, err)
	}
	// The agent starts its keeper when it first arms it, as leader.
	err = poll(ctx, o.Timeout, 50*time.Millisecond, func() error {
		k, ok := c.FenceKeeperOf(run.AgentPID)
		if !ok {
			return fmt.Errorf("localcluster: no fence keeper runs for the agent of %s (pid %d)", leader, run.AgentPID)
		}
		run.Keeper = k
		return nil
	})
	if err != nil {
		return run, err
	}

	obs, err := c.StartObserver(ctx, leader, o.Timeout)
	if err != nil {
		return run, err
	}
	defer obs.Stop()

	resumed := false
	resume := func() error {
		resumed = true
		run.ResumeAt = time.Now()
		if f == AgentFrozen {
			return c.ThawAgent(leader)
		}
		return c.StartNode(context.WithoutCancel(ctx), leader)
	}
	defer func() {
		if !resumed {
			_ = resume()
		}
	}()
	if o.Prepare != nil {
		if err := o.Prepare(ctx); err != nil {
			return run, fmt.Errorf("localcluster: before the agent fault: %w", err)
		}
		if run.Postmaster, err = n.PostmasterPID(); err != nil || run.Postmaster == 0 {
			return run, fmt.Errorf("localcluster: postmaster of %s after Prepare: pid %d, %v", leader, run.Postmaster, err)
		}
	}
	if f == AgentFrozen {
		run.FaultAt, err = c.FreezeAgent(ctx, leader)
	} else {
		run.FaultAt, err = c.KillAgent(ctx, leader)
	}
	if err != nil {
		return run, err
	}

	if err := run.watchHold(ctx); err != nil {
		return run, err
	}
	if err := resume(); err != nil {
		return run, err
	}
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	run.LeaderAfter, err = c.WaitHealthy(rctx)
	run.HealthyAt = time.Now()
	obs.Stop()
	run.judge(obs)
	if err != nil {
		return run, err
	}
	if snap, err = c.Snapshot(ctx); err != nil {
		return run, err
	}
	run.TimelineAfter = snap.Timeline()
	run.Rejoined = snap.Member(leader)
	run.Verify, err = obs.Verify(rctx)
	return run, err
}

// watchHold polls the old postmaster and the keeper every 10 ms until
// the hold ends, noting when each was first seen gone. The keeper is
// looked at first: one that exits after fencing is then never seen gone
// before the postmaster it stopped.
func (run *AgentFaultRun) watchHold(ctx context.Context) error {
	end := run.FaultAt.Add(run.Hold)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for now := time.Now(); now.Before(end); now = time.Now() {
		if run.KeeperGone.IsZero() && !alive(run.Keeper.PID) {
			run.KeeperGone = now
		}
		if run.PostmasterGone.IsZero() && !alive(run.Postmaster) {
			run.PostmasterGone = now
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// judge fills in what the recordings of the stopped obs show.
func (run *AgentFaultRun) judge(obs *Observer) {
	for _, ev := range obs.LeaderWatch().Events() {
		if !ev.At.After(run.FaultAt) {
			continue
		}
		if ev.Name == "" && run.LeaseExpired.IsZero() {
			run.LeaseExpired = ev.At
		}
		if ev.Name != "" && ev.Name != run.Leader && run.NewLeader == "" {
			run.NewLeader, run.NewLeaderAt = ev.Name, ev.At
		}
	}
	rec := obs.Recorder()
	run.OldLastAck, _ = LastAck(rec.Acks(), run.Leader)
	if run.NewLeader != "" {
		run.NewFirstProxy, _ = FirstAck(rec.ProxyAcks(), run.NewLeader, run.FaultAt)
		run.NewFirstDirect, _ = FirstAck(rec.DirectAcks(), run.NewLeader, run.FaultAt)
	}
	until := run.ResumeAt
	if until.IsZero() {
		until = time.Now()
	}
	run.Analysis = obs.Analyze(run.Leader, run.FaultAt, until)
	run.ProxyErrors, run.DirectErrors = rec.Errors()
}
