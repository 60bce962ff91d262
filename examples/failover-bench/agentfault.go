package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// agentScenarios are the issue 14 scenarios: only the primary's agent is
// hit while its PostgreSQL keeps running, so its fence keeper must stop
// the postmaster before the lease expires; with synchronous_mode off and
// quorum.
func agentScenarios() []scenario {
	quorum := func(ctx context.Context, b *bench) error { return patchSyncMode(ctx, b, "quorum") }
	off := func(ctx context.Context, b *bench) error { return patchSyncMode(ctx, b, nil) }
	const what = "; PostgreSQL keeps running, the fence keeper must stop it (writers through HAProxy and on every node)"
	return []scenario{
		{
			Name:        "agent-stop",
			Description: "SIGSTOP the primary's agent for 3 ttl, then SIGCONT" + what,
			run:         runAgentFault(localcluster.AgentFrozen, false),
		},
		{
			Name:        "agent-kill",
			Description: "SIGKILL the primary's agent, start it again 3 ttl later" + what,
			run:         runAgentFault(localcluster.AgentKilled, false),
		},
		{
			Name:        "agent-stop-quorum",
			Description: "agent-stop with synchronous_mode quorum",
			setup:       quorum,
			teardown:    off,
			run:         runAgentFault(localcluster.AgentFrozen, true),
		},
		{
			Name:        "agent-kill-quorum",
			Description: "agent-kill with synchronous_mode quorum",
			setup:       quorum,
			teardown:    off,
			run:         runAgentFault(localcluster.AgentKilled, true),
		},
	}
}

// patchSyncMode sets synchronous_mode in the config key (nil: off).
func patchSyncMode(ctx context.Context, b *bench, mode any) error {
	pctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.c.PatchConfig(pctx, map[string]any{"synchronous_mode": mode})
}

// runAgentFault hits the primary's agent as f says
// (localcluster.RunAgentFault) and records what the fence keeper and the
// failover did; with quorum it first waits until synchronous replication
// has settled.
func runAgentFault(f localcluster.AgentFault, quorum bool) func(context.Context, *bench, *Rep) error {
	return func(ctx context.Context, b *bench, rep *Rep) error {
		leader, err := b.waitHealthy(ctx)
		if err != nil {
			return err
		}
		rep.Leader = leader
		if quorum {
			qctx, cancel := context.WithTimeout(ctx, b.timeout)
			_, err := b.c.WaitQuorum(qctx, leader)
			cancel()
			if err != nil {
				return err
			}
		}
		run, err := b.c.RunAgentFault(ctx, leader, f, localcluster.AgentFaultOptions{Timeout: b.timeout})
		if err != nil {
			return err
		}
		since := func(at time.Time) num {
			if at.IsZero() {
				return num(math.NaN())
			}
			return secs(at.Sub(run.FaultAt))
		}
		a := run.Analysis
		rep.Unavailable, rep.DirectUnavailable = secs(a.ProxyGap.Duration()), secs(a.DirectGap.Duration())
		rep.OldStopped = since(run.PostmasterGone)
		if run.NewLeader != "" {
			rep.LeaderChanged, rep.NewLeaderName, rep.NewLeader = true, run.NewLeader, since(run.NewLeaderAt)
		}
		demotions := a.Count(localcluster.Demoted)
		rep.Demotions, rep.Demoted = num(demotions), demotions > 0
		rep.TwoWriters = num(len(a.TwoWriters))
		rep.TimelineChanged = run.TimelineAfter != run.Timeline
		rep.Acked, rep.Lost = run.Verify.Acked, run.Verify.Lost
		rep.Detail = fmt.Sprintf("lease expired %s s, keeper gone %s s, agent back %s s, healthy %s s after the fault",
			fmtNum(since(run.LeaseExpired), 3), fmtNum(since(run.KeeperGone), 3), fmtNum(since(run.ResumeAt), 3), fmtNum(since(run.HealthyAt), 3))
		if m := run.Rejoined; m == nil || m.IsPrimaryRole() {
			rep.Detail += fmt.Sprintf("; %s did not rejoin as a replica", leader)
		}
		for _, tw := range a.TwoWriters {
			b.log.Warn("two writers", "scenario", f.String(), "what", tw.String())
		}
		return nil
	}
}
