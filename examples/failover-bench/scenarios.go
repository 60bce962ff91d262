package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// Rep holds the figures of one repetition of a scenario. Times are
// seconds; NaN means "does not apply" (no new leader in a restart in
// place) and is null in JSON.
type Rep struct {
	// Unavailable is the longest gap between writes acknowledged through
	// HAProxy around the fault: last acknowledged write before it to the
	// first after it.
	Unavailable num `json:"write_unavailable_s"`
	// NewLeader is the time from the fault (for a switchover: the
	// request) to the new leader key, as seen by an etcd watch.
	NewLeader num `json:"new_leader_s"`
	// ExpiryToWrite is the time from the leader key's expiry (deletion)
	// to the first acknowledged write (node crash only).
	ExpiryToWrite num `json:"lease_expiry_to_first_write_s"`
	// Acked and Lost count acknowledged writes and those missing on the
	// primary afterwards.
	Acked int `json:"acked_writes"`
	Lost  int `json:"acked_writes_lost"`
	// LeaderChanged and Demoted report a failover, or a PostgreSQL restart
	// or a GET /primary other than 200 on the leader, where none should
	// happen (etcd member kill).
	LeaderChanged bool `json:"leader_changed"`
	Demoted       bool `json:"demoted"`
	// Leader is the leader before the fault, NewLeaderName the one after.
	Leader        string `json:"leader"`
	NewLeaderName string `json:"new_leader"`

	// The etcd fault scenarios record more (localcluster.RunEtcdFault): a
	// writer directly on every node besides the one through HAProxy, and
	// every node's PostgreSQL state. NaN (null) in the other scenarios.
	//
	// DirectUnavailable is the longest gap between writes acknowledged
	// directly, by whichever node, after the fault.
	DirectUnavailable num `json:"direct_write_unavailable_s"`
	// Demotions counts primaries demoted (in recovery, restarted or gone)
	// on any node; TwoWriters the writes acknowledged while another node
	// acknowledged writes too (localcluster.FindTwoWriters).
	Demotions  num `json:"demotions"`
	TwoWriters num `json:"two_writer_moments"`
	// TimelineChanged reports a new timeline, in the DCS or on a node.
	TimelineChanged bool `json:"timeline_changed"`
	// Detail says which etcd member was killed and why, or what the
	// agent fault did when.
	Detail string `json:"detail,omitempty"`

	// OldStopped is the time from the fault to the old primary's
	// postmaster being gone (the agent fault scenarios: stopped by the
	// fence keeper); NaN (null) in the other scenarios.
	OldStopped num `json:"old_primary_stopped_s"`

	// The etcd quorum loss scenarios (quorumLossScenarios) measure, from
	// etcd's quorum coming back, the first write sent after it and
	// acknowledged through HAProxy (QuorumToProxyWrite) and directly by
	// any node (QuorumToDirectWrite), and count the replicas promoted
	// (Promotions); NaN (null) in the other scenarios.
	QuorumToProxyWrite  num `json:"quorum_to_first_write_proxy_s"`
	QuorumToDirectWrite num `json:"quorum_to_first_write_direct_s"`
	Promotions          num `json:"promotions"`
	// quorumLoss marks a repetition of a quorum loss scenario, for its
	// progress line.
	quorumLoss bool

	// LeaderToWrite is the time from the new leader key (as the watch saw
	// it) to the first write acknowledged after it (node-crash,
	// switchover); OffLeader counts acknowledged writes by a node the DCS
	// did not name as leader then (offLeaderWrites). NaN (null) in the
	// other scenarios.
	LeaderToWrite num `json:"new_leader_to_first_write_s"`
	OffLeader     num `json:"writes_off_dcs_leader"`

	// Error says why the repetition did not complete.
	Error string `json:"error,omitempty"`
}

// newRep returns a Rep with every time "not measured".
func newRep() Rep {
	nan := num(math.NaN())
	return Rep{Unavailable: nan, NewLeader: nan, ExpiryToWrite: nan, DirectUnavailable: nan, Demotions: nan, TwoWriters: nan, OldStopped: nan,
		QuorumToProxyWrite: nan, QuorumToDirectWrite: nan, Promotions: nan, LeaderToWrite: nan, OffLeader: nan}
}

// scenario is one kind of fault with how to run it once and restore
// the cluster afterwards.
type scenario struct {
	Name        string
	Description string
	// setup runs once before the repetitions, teardown once after.
	setup, teardown func(ctx context.Context, b *bench) error
	run             func(ctx context.Context, b *bench, rep *Rep) error
}

// scenarios are all scenarios, in the order they run.
func scenarios() []scenario {
	list := append([]scenario{
		{
			Name:        "node-crash",
			Description: "SIGKILL the primary's agent and postmaster; restart the node afterwards",
			run:         runNodeCrash,
		},
		{
			Name:        "pg-crash",
			Description: "SIGKILL the primary's postmaster only (default primary_start_timeout: restart in place)",
			setup:       patchStartTimeout(nil),
			run:         runPGCrash(false),
		},
		{
			Name:        "pg-crash-failover",
			Description: "SIGKILL the primary's postmaster only with primary_start_timeout 0 (failover)",
			setup:       patchStartTimeout(0),
			teardown:    patchStartTimeout(nil),
			run:         runPGCrash(true),
		},
		{
			Name:        "switchover",
			Description: "POST /switchover to a replica",
			run:         runSwitchover,
		},
		{
			Name:        "etcd-leader-kill",
			Description: "hard-stop the etcd member that is raft leader (3 members); restart it afterwards",
			run:         runEtcdKill,
		},
		{
			Name: "etcd-raft-leader",
			Description: "kill etcd's raft leader while the primary's agent watches through another member; " +
				"no failover needed (writers through HAProxy and on every node)",
			run: runEtcdFault(localcluster.EtcdLeaderFault),
		},
		{
			Name: "etcd-primary-member",
			Description: "make the etcd member the primary's agent talks to raft leader, then kill it; " +
				"no failover needed (writers through HAProxy and on every node)",
			run: runEtcdFault(localcluster.EtcdPrimaryMemberFault),
		},
	}, agentScenarios()...)
	list = append(list, quorumLossScenarios()...)
	return append(list, guideScenarios()...)
}

// runEtcdFault kills an etcd member as fault f says, on a cluster that
// needs no failover for it, and records what happened anyway.
func runEtcdFault(f localcluster.EtcdFault) func(context.Context, *bench, *Rep) error {
	return func(ctx context.Context, b *bench, rep *Rep) error {
		leader, err := b.waitHealthy(ctx)
		if err != nil {
			return err
		}
		rep.Leader = leader
		run, err := b.c.RunEtcdFault(ctx, leader, f, localcluster.EtcdFaultOptions{Timeout: b.timeout})
		if p := run.Plan; !run.FaultAt.IsZero() {
			rep.Detail = fmt.Sprintf("killed member %d, the agent's watch on member %d", p.Victim, p.AgentMember)
			if p.MovedFrom >= 0 {
				rep.Detail += fmt.Sprintf(", leadership moved from member %d", p.MovedFrom)
			}
		}
		if err != nil {
			return err
		}
		a := run.Analysis
		rep.Unavailable, rep.DirectUnavailable = secs(a.ProxyGap.Duration()), secs(a.DirectGap.Duration())
		if len(a.LeaderChanges) > 0 {
			ev := a.LeaderChanges[0]
			rep.LeaderChanged, rep.NewLeaderName, rep.NewLeader = true, ev.Name, secs(ev.At.Sub(run.FaultAt))
		}
		demotions := a.Count(localcluster.Demoted)
		rep.Demotions, rep.Demoted = num(demotions), demotions > 0
		rep.TwoWriters = num(len(a.TwoWriters))
		rep.TimelineChanged = run.TimelineAfter != run.Timeline || a.Count(localcluster.NewTimeline) > 0
		rep.Acked, rep.Lost = run.Verify.Acked, run.Verify.Lost
		for _, d := range a.Disruptions {
			b.log.Warn("disruption", "scenario", f.String(), "after", d.At.Sub(run.FaultAt).Round(time.Millisecond), "what", d.String())
		}
		return nil
	}
}

// patchStartTimeout sets primary_start_timeout in the config key (nil
// removes it: pgha's default).
func patchStartTimeout(v any) func(context.Context, *bench) error {
	return func(ctx context.Context, b *bench) error {
		pctx, cancel := context.WithTimeout(ctx, b.timeout)
		defer cancel()
		return b.c.PatchConfig(pctx, map[string]any{"primary_start_timeout": v})
	}
}

// secs converts a duration to a num of seconds.
func secs(d time.Duration) num { return num(d.Seconds()) }

// runNodeCrash kills the primary node, measures the failover and restarts
// the node, which must rejoin as a replica.
func runNodeCrash(ctx context.Context, b *bench, rep *Rep) error {
	leader, w, lw, err := b.begin(ctx, rep, nil)
	if err != nil {
		return err
	}
	defer w.Stop()
	defer lw.Stop()

	faultAt, err := b.c.KillNode(ctx, leader)
	if err != nil {
		return fmt.Errorf("kill node %s: %w", leader, err)
	}
	newLeader, leaderAt, err := b.awaitLeader(ctx, lw, faultAt, func(n string) bool { return n != "" && n != leader })
	if err != nil {
		return fmt.Errorf("no new leader after the crash of %s: %w", leader, err)
	}
	rep.NewLeaderName, rep.NewLeader, rep.LeaderChanged = newLeader, secs(leaderAt.Sub(faultAt)), true
	first, err := b.firstWrite(ctx, w, rep, faultAt, leaderAt, "the failover")
	if err != nil {
		return err
	}
	rep.OffLeader = num(offLeaderWrites(w.Acks(), lw.Events(), leader))
	rep.LeaderToWrite = secs(first.At.Sub(leaderAt))
	if ev, ok := lw.First(faultAt, func(n string) bool { return n == "" }); ok {
		rep.ExpiryToWrite = secs(first.At.Sub(ev.At))
	}
	if err := b.record(ctx, w, rep); err != nil {
		return err
	}

	if err := b.c.StartNode(ctx, leader); err != nil {
		return fmt.Errorf("restart %s: %w", leader, err)
	}
	if _, err := b.waitHealthy(ctx); err != nil {
		return fmt.Errorf("after restarting %s: %w", leader, err)
	}
	return nil
}

// runPGCrash kills the primary's postmaster only. With the default
// primary_start_timeout the agent restarts it in place (no new leader);
// with 0 (failover set) a replica takes over.
func runPGCrash(failover bool) func(context.Context, *bench, *Rep) error {
	return func(ctx context.Context, b *bench, rep *Rep) error {
		return pgCrash(ctx, b, rep, failover)
	}
}

func pgCrash(ctx context.Context, b *bench, rep *Rep, failover bool) error {
	var oldPID int
	leader, w, lw, err := b.begin(ctx, rep, func(leader string) (err error) {
		oldPID, err = b.c.Node(leader).PostmasterPID()
		return err
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	defer lw.Stop()

	faultAt, err := b.c.KillPostgres(ctx, leader)
	if err != nil {
		return fmt.Errorf("kill PostgreSQL on %s: %w", leader, err)
	}
	// An insert in flight at the kill may still be acknowledged just
	// after faultAt: only an ack after the recovery began (a new leader,
	// or a new postmaster on the leader) ends the outage.
	var recoveredAt time.Time
	if failover {
		_, at, err := b.awaitLeader(ctx, lw, faultAt, func(n string) bool { return n != "" && n != leader })
		if err != nil {
			return fmt.Errorf("no failover after the PostgreSQL crash on %s: %w", leader, err)
		}
		recoveredAt = at
	} else {
		wctx, cancel := context.WithTimeout(ctx, b.timeout)
		defer cancel()
		err := localcluster.Poll(wctx, 20*time.Millisecond, func() error {
			if pid, err := b.c.Node(leader).PostmasterPID(); err != nil || pid == 0 || pid == oldPID {
				return fmt.Errorf("postmaster of %s not restarted (pid %d, %v)", leader, pid, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		recoveredAt = time.Now()
	}
	if _, err := b.firstWrite(ctx, w, rep, faultAt, recoveredAt, "the crash"); err != nil {
		return err
	}
	if ev, ok := lw.First(faultAt, func(n string) bool { return n != "" && n != leader }); ok {
		rep.NewLeaderName, rep.NewLeader, rep.LeaderChanged = ev.Name, secs(ev.At.Sub(faultAt)), true
	}
	if err := b.record(ctx, w, rep); err != nil {
		return err
	}
	if _, err := b.waitHealthy(ctx); err != nil {
		return fmt.Errorf("after the crash: %w", err)
	}
	return nil
}

// runSwitchover moves the leadership to a replica.
func runSwitchover(ctx context.Context, b *bench, rep *Rep) error {
	var candidate string
	leader, w, lw, err := b.begin(ctx, rep, func(leader string) (err error) {
		candidate, err = b.replicaOf(leader)
		return err
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	defer lw.Stop()

	at := time.Now()
	if err := b.c.Switchover(ctx, candidate); err != nil {
		return fmt.Errorf("switchover %s -> %s: %w", leader, candidate, err)
	}
	_, leaderAt, err := b.awaitLeader(ctx, lw, at, func(n string) bool { return n == candidate })
	if err != nil {
		return fmt.Errorf("%s did not become leader: %w", candidate, err)
	}
	rep.NewLeaderName, rep.NewLeader, rep.LeaderChanged = candidate, secs(leaderAt.Sub(at)), true
	first, err := b.firstWrite(ctx, w, rep, at, leaderAt, "the switchover")
	if err != nil {
		return err
	}
	rep.OffLeader = num(offLeaderWrites(w.Acks(), lw.Events(), leader))
	rep.LeaderToWrite = secs(first.At.Sub(leaderAt))
	if err := b.record(ctx, w, rep); err != nil {
		return err
	}
	if _, err := b.waitHealthy(ctx); err != nil {
		return fmt.Errorf("after the switchover: %w", err)
	}
	return nil
}

// runEtcdKill hard-stops etcd's raft leader and watches the pgha leader
// for two lease lifetimes: it must keep its key and its PostgreSQL.
func runEtcdKill(ctx context.Context, b *bench, rep *Rep) error {
	e := b.c.Etcd()
	if e.Size() < 3 {
		return errors.New("etcd-leader-kill needs 3 etcd members")
	}
	var pid int
	leader, w, lw, err := b.begin(ctx, rep, func(leader string) (err error) {
		pid, err = b.c.Node(leader).PostmasterPID()
		return err
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	defer lw.Stop()

	victim, err := e.Leader()
	if err != nil {
		return err
	}
	// Probe the leader from before the kill (which takes a while to
	// return) until two lease lifetimes after it: a renewal the kill
	// disturbed has either failed or succeeded by then.
	faultAt := time.Now()
	until := faultAt.Add(2 * b.ttl)
	demoted := make(chan bool, 1)
	go func() {
		bad := false
		for time.Now().Before(until) && ctx.Err() == nil {
			if now, err := b.c.Node(leader).PostmasterPID(); err != nil || now != pid {
				bad = true
			}
			if b.c.PrimaryStatus(ctx, leader) != 200 {
				bad = true // fenced: HAProxy routes away from it
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		demoted <- bad
	}()
	if err := e.Kill(victim); err != nil {
		<-demoted
		return fmt.Errorf("kill etcd member %d: %w", victim, err)
	}
	rep.Demoted = <-demoted
	if err := ctx.Err(); err != nil {
		return err
	}
	if ev, ok := lw.First(faultAt, func(n string) bool { return n != leader }); ok {
		rep.LeaderChanged, rep.NewLeaderName, rep.NewLeader = true, ev.Name, secs(ev.At.Sub(faultAt))
	}
	if _, err := b.ackAfter(ctx, w, faultAt); err != nil {
		return fmt.Errorf("no write through HAProxy after the etcd kill: %w", err)
	}
	if g, ok := localcluster.LongestGap(w.Acks(), faultAt, until); ok {
		rep.Unavailable = secs(g.Duration())
	}
	if err := b.record(ctx, w, rep); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := e.Restart(rctx, victim); err != nil {
		return fmt.Errorf("restart etcd member %d: %w", victim, err)
	}
	if _, err := e.WaitLeader(rctx); err != nil {
		return err
	}
	_, err = b.waitHealthy(ctx)
	return err
}
