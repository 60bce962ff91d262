package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// TestAgentFault (issue 14; DESIGN §3 invariant 8, "fencing does not
// depend on a live agent") hits only the primary's agent under write load
// while its PostgreSQL keeps running, each scenario once, on one cluster:
//
//   - agent_frozen: the agent is SIGSTOPped for 3 ttl, then SIGCONTed;
//   - agent_killed: the agent is SIGKILLed (its postmaster and fence keeper
//     are not: localcluster signals the agent's pid only, and the keeper
//     runs in a session of its own), then started again 3 ttl later;
//   - agent_frozen_quorum and agent_killed_quorum: the same with
//     synchronous_mode quorum;
//   - agent_killed_after_pg_restart_quorum: PostgreSQL is killed, and the
//     agent is SIGKILLed the moment its restart in place has a new
//     postmaster: the keeper must stop that one too (it guards the data
//     directory).
//
// The agent's fence keeper (package fence) must stop the old primary's
// postmaster at the term's deadline, before the lease expires and before a
// new leader key appears; then a replica must take over. Each scenario
// (localcluster.RunAgentFault, which records writes through HAProxy and
// directly on every node, every node's PostgreSQL state and the leader
// key) asserts that no acknowledged write is lost, that no two nodes
// acknowledged writes at once (the old primary's last acknowledgement
// comes before the new primary's first write was sent), that exactly one
// node, the new leader, was promoted, that the new leader took the key and
// acknowledged writes through HAProxy and directly within 2 ttl of the
// fault (a deadline, not a speed goal; the hold is longer), and that once
// the agent is back the old primary runs as a streaming replica of the
// new leader. It also checks the keeper itself: in its own session before
// the fault, alive while its agent is frozen, outliving its killed agent
// until it has fenced and then exiting by itself; the harness checks that
// no keeper outlives the cluster. Before a quorum scenario the sync key
// must name both replicas (localcluster.WaitQuorum). The measured times
// are logged, with the keeper's own log lines (it logs to the agent's
// log).
func TestAgentFault(t *testing.T) {
	h := newHarness(t)
	scenarios := []struct {
		name  string
		fault localcluster.AgentFault
		sync  string // synchronous_mode; "" is off
		// pgCrash: PostgreSQL is killed first, and the agent is hit the
		// moment the postmaster it restarted in place appears.
		pgCrash bool
	}{
		{"agent_frozen", localcluster.AgentFrozen, "", false},
		{"agent_killed", localcluster.AgentKilled, "", false},
		{"agent_frozen_quorum", localcluster.AgentFrozen, "quorum", false},
		{"agent_killed_quorum", localcluster.AgentKilled, "quorum", false},
		// Quorum: the restarted primary acknowledges nothing before a
		// standby has it. Asynchronous, what it acknowledged before the
		// replicas' WAL receivers came back (they retry every 5 s) may be
		// lost, as with any asynchronous failover.
		{"agent_killed_after_pg_restart_quorum", localcluster.AgentKilled, "quorum", true},
	}
	mode := ""
	for _, sc := range scenarios {
		if sc.sync != mode {
			var v any
			if sc.sync != "" {
				v = sc.sync
			}
			h.patchConfig(t, map[string]any{"synchronous_mode": v})
			mode = sc.sync
		}
		// Each scenario restores health before it ends (or stops), so the
		// next one runs even after a failed one: every result is wanted.
		t.Run(sc.name, func(t *testing.T) { testAgentFault(t, h, sc.fault, sc.sync, sc.pgCrash) })
	}
}

// testAgentFault runs one scenario of TestAgentFault and judges it.
func testAgentFault(t *testing.T, h *harness, fault localcluster.AgentFault, sync string, pgCrash bool) {
	leader := h.waitHealthy(t)
	if sync != "" {
		ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
		standbys, err := h.c.WaitQuorum(ctx, leader)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("synchronous standbys of %s: %v", leader, standbys)
	}
	if fault == localcluster.AgentFrozen {
		// RunAgentFault continues the agent on every path; this covers a
		// test stopped while it ran.
		t.Cleanup(func() { _ = h.c.ThawAgent(leader) })
	}
	bound := 2 * h.ttl
	opts := localcluster.AgentFaultOptions{Hold: 3 * h.ttl, Timeout: waitTimeout}
	if pgCrash {
		opts.Prepare = func(ctx context.Context) error { return h.crashPostgresInPlace(ctx, t, leader) }
	}
	run, err := h.c.RunAgentFault(h.ctx, leader, fault, opts)
	from := run.FaultAt
	at := func(x time.Time) string {
		if x.IsZero() {
			return "never"
		}
		return ms(x.Sub(from))
	}
	t.Logf("%s on %s (agent pid %d, session %d; postmaster %d; %s), hold %s; after the fault: old postmaster gone %s, keeper gone %s, lease expired %s, new leader %q %s, agent back %s, healthy %s",
		fault, leader, run.AgentPID, run.AgentSession, run.Postmaster, run.Keeper, ms(run.Hold),
		at(run.PostmasterGone), at(run.KeeperGone), at(run.LeaseExpired), run.NewLeader, at(run.NewLeaderAt), at(run.ResumeAt), at(run.HealthyAt))
	if !from.IsZero() {
		h.logKeeperLines(t, leader, from.Add(-time.Minute))
	}
	if err != nil {
		h.logAgentWarnings(t, from.Add(-time.Second))
		t.Fatalf("run %s: %v", fault, err)
	}
	a := run.Analysis
	t.Logf("old primary's last write acknowledged %s (sent %s); new leader's first write through HAProxy %s, directly %s; longest write gap %s through HAProxy, %s directly; %d failed attempts through HAProxy, %d direct",
		at(run.OldLastAck.At), at(run.OldLastAck.Sent), at(run.NewFirstProxy.At), at(run.NewFirstDirect.At),
		ms(a.ProxyGap.Duration()), ms(a.DirectGap.Duration()), run.ProxyErrors, run.DirectErrors)
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost; timeline %d -> %d", run.Verify.Acked, run.Verify.Found, run.Verify.Primary, run.Verify.Lost, run.Timeline, run.TimelineAfter)

	// The keeper: a session of its own, so no signal for the agent's
	// process group or session reaches it.
	if run.Keeper.Session == 0 || run.Keeper.Session == run.AgentSession {
		t.Errorf("fence keeper %s shares the agent's session %d", run.Keeper, run.AgentSession)
	}
	// The fence: the old postmaster stopped before the lease expired and
	// before a new leader key appeared.
	switch {
	case run.PostmasterGone.IsZero():
		t.Errorf("the old primary's postmaster %d still ran %s after its agent was hit: not fenced", run.Postmaster, ms(run.Hold))
	case !run.LeaseExpired.IsZero() && !run.PostmasterGone.Before(run.LeaseExpired):
		t.Errorf("the old primary's postmaster was gone only %s after the fault, the lease had expired at %s", at(run.PostmasterGone), at(run.LeaseExpired))
	case !run.NewLeaderAt.IsZero() && !run.PostmasterGone.Before(run.NewLeaderAt):
		t.Errorf("the old primary's postmaster was gone only %s after the fault, %s took the leader key at %s", at(run.PostmasterGone), run.NewLeader, at(run.NewLeaderAt))
	default:
		t.Logf("fenced %s before the lease expired, %s before the new leader key", aheadOf(run.PostmasterGone, run.LeaseExpired), aheadOf(run.PostmasterGone, run.NewLeaderAt))
	}
	switch fault {
	case localcluster.AgentFrozen:
		if !run.KeeperGone.IsZero() {
			t.Errorf("the fence keeper of the frozen agent exited %s after the fault; it should wait for its agent", at(run.KeeperGone))
		}
	case localcluster.AgentKilled:
		// It outlives its agent, fences, then exits by itself (its pipe
		// from the agent is closed and nothing is armed).
		if run.KeeperGone.IsZero() {
			t.Errorf("the fence keeper of the killed agent still ran %s after the fault", ms(run.Hold))
		} else if !run.PostmasterGone.IsZero() && run.KeeperGone.Before(run.PostmasterGone) {
			t.Errorf("the fence keeper exited %s after the fault, before the old postmaster was gone (%s)", at(run.KeeperGone), at(run.PostmasterGone))
		}
	}
	// The failover, within the bound.
	switch {
	case run.NewLeader == "":
		t.Errorf("no new leader within the hold of %s", ms(run.Hold))
	case run.NewLeaderAt.Sub(from) > bound:
		t.Errorf("new leader %s took the key %s after the fault, later than %s", run.NewLeader, at(run.NewLeaderAt), ms(bound))
	}
	for _, first := range []struct {
		how string
		ack localcluster.Ack
	}{{"through HAProxy", run.NewFirstProxy}, {"directly", run.NewFirstDirect}} {
		switch {
		case run.NewLeader == "":
		case first.ack.At.IsZero():
			t.Errorf("new leader %s acknowledged no write %s", run.NewLeader, first.how)
		case first.ack.At.Sub(from) > bound:
			t.Errorf("new leader %s acknowledged its first write %s %s after the fault, later than %s", run.NewLeader, first.how, at(first.ack.At), ms(bound))
		case !run.OldLastAck.At.Before(first.ack.Sent):
			t.Errorf("the old primary acknowledged a write at %s, after the new leader's first write %s was sent at %s",
				at(run.OldLastAck.At), first.how, at(first.ack.Sent))
		}
	}
	for i, tw := range a.TwoWriters {
		if i == 10 {
			t.Errorf("... %d two-writer moments in all", len(a.TwoWriters))
			break
		}
		t.Errorf("two nodes acknowledged writes at once: %s", tw)
	}
	for _, d := range a.Disruptions {
		switch {
		case d.Kind == localcluster.Promoted && d.Node != run.NewLeader,
			d.Kind == localcluster.Demoted && d.Node != leader:
			t.Errorf("%s", d)
		default:
			t.Logf("%s", d)
		}
	}
	if n := a.Count(localcluster.Promoted); n != 1 && run.NewLeader != "" {
		t.Errorf("%d promotions, want one (of %s)", n, run.NewLeader)
	}
	// Nothing acknowledged lost.
	if run.Verify.Lost != 0 {
		ids := run.Verify.LostIDs
		if len(ids) > 20 {
			ids = ids[:20]
		}
		t.Errorf("%d acknowledged writes lost (first ids %v)", run.Verify.Lost, ids)
	}
	if run.Verify.Acked == 0 {
		t.Errorf("no write was acknowledged")
	}
	// The old primary back as a replica of the new leader.
	if run.LeaderAfter != run.NewLeader {
		t.Errorf("leader %s once the agent of %s was back, want %s", run.LeaderAfter, leader, run.NewLeader)
	}
	if m := run.Rejoined; m == nil || m.IsPrimaryRole() || m.ReplicationState != "streaming" {
		t.Errorf("old primary %s did not rejoin as a streaming replica: %+v", leader, m)
	} else {
		t.Logf("%s rejoined as %s (%s) %s after its agent was back", leader, m.Role, m.ReplicationState, ms(run.HealthyAt.Sub(run.ResumeAt)))
	}
	if t.Failed() {
		h.logAgentWarnings(t, from.Add(-time.Second))
	}
}

// crashPostgresInPlace kills leader's PostgreSQL and returns the moment
// the agent's restart in place has a new postmaster (polled every 5 ms):
// the window in which the agent re-arms its fence keeper for the new
// process (the simulation found it armed up to 500 ms late, and an agent
// killed then left two primaries).
func (h *harness) crashPostgresInPlace(ctx context.Context, t *testing.T, leader string) error {
	n := h.c.Node(leader)
	old, err := n.PostmasterPID()
	if err != nil || old == 0 {
		return fmt.Errorf("postmaster of %s: pid %d, %v", leader, old, err)
	}
	at, err := h.c.KillPostgres(ctx, leader)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	err = localcluster.Poll(pctx, 5*time.Millisecond, func() error {
		if pid, err := n.PostmasterPID(); err != nil || pid == 0 || pid == old {
			return fmt.Errorf("postmaster of %s not restarted in place: pid %d before, %d now (%v)", leader, old, pid, err)
		}
		return nil
	})
	if err == nil {
		t.Logf("PostgreSQL on %s killed; its new postmaster appeared %s later: hitting the agent now", leader, ms(time.Since(at)))
	}
	return err
}

// aheadOf formats how long before b a happened ("(not seen)" when b is
// zero).
func aheadOf(a, b time.Time) string {
	if b.IsZero() {
		return "(not seen)"
	}
	return ms(b.Sub(a))
}

// logKeeperLines logs the fence keeper's own lines in node name's agent
// log since since.
func (h *harness) logKeeperLines(t *testing.T, name string, since time.Time) {
	t.Helper()
	lines := h.agentLog(t, h.c.Node(name), since, "component=pgha-fence-keeper")
	t.Logf("---- %s: %d fence keeper lines since %s ----\n%s", name, len(lines), since.Format("15:04:05.000"), strings.Join(lines, "\n"))
}
