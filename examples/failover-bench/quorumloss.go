package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// quorumLossPrefix starts the names of the quorum loss scenarios, which
// the report shows with their own rows.
const quorumLossPrefix = "etcd-quorum-loss"

// quorumLossScenarios take etcd's quorum away (its raft leader and one
// other member of three killed, localcluster.RunQuorumLoss) for 2 ttl and
// for 30 s, with failsafe_mode off and on. Without failsafe mode the
// primary must stop taking writes before its lease could expire and the
// cluster take writes again soon after the quorum returns (the goal: ttl
// + 1 s); with it, every member confirms the primary over POST /failsafe
// and nothing may happen: no demotion, promotion, new timeline or leader
// key change.
func quorumLossScenarios() []scenario {
	on := func(ctx context.Context, b *bench) error { return patchFailsafe(ctx, b, true) }
	// nil removes the setting: pgha's default, off.
	off := func(ctx context.Context, b *bench) error { return patchFailsafe(ctx, b, nil) }
	const what = " (writers through HAProxy and on every node)"
	return []scenario{
		{
			Name:        quorumLossPrefix,
			Description: "kill etcd's raft leader and one other member (no quorum) for 2 ttl, then restart them; failsafe_mode off" + what,
			setup:       off,
			run:         runQuorumLoss(0, false),
		},
		{
			Name:        quorumLossPrefix + "-failsafe",
			Description: "etcd-quorum-loss with failsafe_mode on: no failover, demotion or new timeline allowed" + what,
			setup:       on,
			teardown:    off,
			run:         runQuorumLoss(0, true),
		},
		{
			Name:        quorumLossPrefix + "-30s",
			Description: "etcd-quorum-loss for 30 s; failsafe_mode off" + what,
			setup:       off,
			run:         runQuorumLoss(30*time.Second, false),
		},
		{
			Name:        quorumLossPrefix + "-30s-failsafe",
			Description: "etcd-quorum-loss for 30 s with failsafe_mode on: no failover, demotion or new timeline allowed" + what,
			setup:       on,
			teardown:    off,
			run:         runQuorumLoss(30*time.Second, true),
		},
	}
}

// patchFailsafe sets failsafe_mode in the config key (nil: pgha's default,
// off).
func patchFailsafe(ctx context.Context, b *bench, v any) error {
	pctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.c.PatchConfig(pctx, map[string]any{"failsafe_mode": v})
}

// runQuorumLoss takes etcd's quorum away for hold (0: 2 ttl) and records
// what the cluster did until 2 ttl after it returned. With failsafe it
// first waits until the leader's failsafe key lists every node, so that
// the primary knows whom to ask for confirmation.
func runQuorumLoss(hold time.Duration, failsafe bool) func(context.Context, *bench, *Rep) error {
	return func(ctx context.Context, b *bench, rep *Rep) error {
		rep.quorumLoss = true
		leader, err := b.waitHealthy(ctx)
		if err != nil {
			return err
		}
		rep.Leader = leader
		if failsafe {
			fctx, cancel := context.WithTimeout(ctx, b.timeout)
			err := b.c.WaitFailsafeKey(fctx, leader)
			cancel()
			if err != nil {
				return err
			}
		}
		if hold <= 0 {
			hold = 2 * b.ttl
		}
		run, err := b.c.RunQuorumLoss(ctx, leader, localcluster.QuorumLossOptions{Hold: hold, After: 2 * b.ttl, Timeout: b.timeout})
		rep.Detail = quorumLossDetail(run, failsafe)
		if err != nil {
			return err
		}
		fillQuorumLoss(rep, run)
		for _, d := range run.Analysis.Disruptions {
			b.log.Warn("disruption", "scenario", "etcd quorum loss", "after", d.At.Sub(run.FaultAt).Round(time.Millisecond), "what", d.String())
		}
		for _, tw := range run.Analysis.TwoWriters {
			b.log.Warn("two writers", "scenario", "etcd quorum loss", "what", tw.String())
		}
		return nil
	}
}

// fillQuorumLoss records in rep the figures of a completed run.
func fillQuorumLoss(rep *Rep, run localcluster.QuorumLossRun) {
	a := run.Analysis
	rep.Unavailable, rep.DirectUnavailable = secs(a.ProxyGap.Duration()), secs(a.DirectGap.Duration())
	rep.QuorumToProxyWrite = ackAfter(run.FirstProxy, run.QuorumAt)
	rep.QuorumToDirectWrite = ackAfter(run.FirstDirect, run.QuorumAt)
	// Any change of the leader key counts, a deletion too: with failsafe
	// mode on the key must survive the outage untouched.
	rep.LeaderChanged = len(a.LeaderChanges) > 0
	for _, ev := range a.LeaderChanges {
		if ev.Name != "" {
			rep.NewLeaderName, rep.NewLeader = ev.Name, secs(ev.At.Sub(run.FaultAt))
			break
		}
	}
	demotions := a.Count(localcluster.Demoted)
	rep.Demotions, rep.Demoted = num(demotions), demotions > 0
	rep.Promotions = num(a.Count(localcluster.Promoted))
	rep.TwoWriters = num(len(a.TwoWriters))
	rep.TimelineChanged = run.TimelineAfter != run.Timeline || a.Count(localcluster.NewTimeline) > 0
	rep.Acked, rep.Lost = run.Verify.Acked, run.Verify.Lost
}

// ackAfter is the time from at to a's acknowledgement, NaN when there was
// none.
func ackAfter(a localcluster.Ack, at time.Time) num {
	if a.At.IsZero() || at.IsZero() {
		return num(math.NaN())
	}
	return secs(a.At.Sub(at))
}

// quorumLossDetail describes what the run did when, as far as it got.
func quorumLossDetail(run localcluster.QuorumLossRun, failsafe bool) string {
	if run.FaultAt.IsZero() {
		return ""
	}
	rel := func(at, from time.Time) string {
		if at.IsZero() || from.IsZero() {
			return "-"
		}
		return fmtNum(secs(at.Sub(from)), 3)
	}
	parts := []string{fmt.Sprintf("killed etcd members %v", run.Killed)}
	if !run.QuorumAt.IsZero() {
		parts = append(parts, fmt.Sprintf("quorum back %s s after the kill", rel(run.QuorumAt, run.FaultAt)))
	}
	if !run.OldLastAck.At.IsZero() {
		parts = append(parts, fmt.Sprintf("last write by %s before quorum %s s after the kill", run.Leader, rel(run.OldLastAck.At, run.FaultAt)))
	}
	if len(run.LeaderEvents) > 0 {
		var keys []string
		for _, ev := range run.LeaderEvents {
			name := ev.Name
			if name == "" {
				name = "deleted"
			}
			keys = append(keys, fmt.Sprintf("%s %s s", name, rel(ev.At, run.FaultAt)))
		}
		parts = append(parts, "leader key after the kill: "+strings.Join(keys, ", "))
	}
	switch {
	case !run.FailsafeActive.IsZero():
		parts = append(parts, fmt.Sprintf("failsafe active %s s after the kill, inactive %s s after quorum",
			rel(run.FailsafeActive, run.FaultAt), rel(run.FailsafeInactive, run.QuorumAt)))
	case failsafe && !run.HealthyAt.IsZero():
		// The probe ran through the outage and never saw it.
		parts = append(parts, fmt.Sprintf("GET /patroni on %s never reported failsafe_mode_is_active", run.Leader))
	}
	if !run.HealthyAt.IsZero() {
		parts = append(parts, fmt.Sprintf("healthy %s s after quorum, leader %s", rel(run.HealthyAt, run.QuorumAt), orDash(run.LeaderAfter)))
	}
	return strings.Join(parts, "; ")
}

// quorumLoss reports whether sr is a quorum loss scenario.
func (sr ScenarioResult) quorumLoss() bool { return strings.HasPrefix(sr.Name, quorumLossPrefix) }
