package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// TestCluster runs every scenario against one three-node cluster over a
// three-member etcd, restoring health between scenarios: starting a cluster
// costs more than any single scenario, and the order below also checks that
// a cluster keeps working after each kind of fault.
func TestCluster(t *testing.T) {
	cbLog, withCB := withCallbacks(t)
	h := newHarnessWith(t, withCB)
	h.callbackLog = cbLog
	scenarios := []struct {
		name string
		run  func(*testing.T, *harness)
	}{
		{"etcd_follower_killed", func(t *testing.T, h *harness) { testEtcdMemberKilled(t, h, false) }},
		{"etcd_leader_killed", func(t *testing.T, h *harness) { testEtcdMemberKilled(t, h, true) }},
		{"switchover", testSwitchover},
		{"cluster_config", testClusterConfig},
		{"postgres_crash_restart_in_place", testPostgresCrashRestart},
		{"postgres_crash_failover", testPostgresCrashFailover},
		{"node_crash", testNodeCrash},
	}
	for _, sc := range scenarios {
		if !t.Run(sc.name, func(t *testing.T) { sc.run(t, h) }) {
			// Later scenarios need a healthy cluster; the first
			// failure says more than a cascade would.
			t.Fatalf("scenario %s failed; skipping the rest", sc.name)
		}
	}
}

// testEtcdMemberKilled kills one etcd member (etcd's raft leader when
// etcdLeader is set) under write load: the pgha leader must keep its term,
// its PostgreSQL and its timeline, and writes must continue.
func testEtcdMemberKilled(t *testing.T, h *harness, etcdLeader bool) {
	leader := h.waitHealthy(t)
	tl := h.timeline(t)
	pid, err := h.c.Node(leader).PostmasterPID()
	if err != nil || pid == 0 {
		t.Fatalf("postmaster of %s: pid %d, %v", leader, pid, err)
	}
	w := h.startWriter(t)
	lw := h.watchLeader(t)
	probe := h.probePrimary(t, leader, pid)

	e := h.c.Etcd()
	raftLeader, err := e.Leader()
	if err != nil {
		t.Fatalf("etcd leader: %v", err)
	}
	victim := raftLeader
	if !etcdLeader {
		victim = (raftLeader + 1) % e.Size()
	}
	faultAt := time.Now()
	if err := e.Kill(victim); err != nil {
		t.Fatalf("kill etcd member %d: %v", victim, err)
	}
	t.Logf("killed etcd member %d (raft leader: %v) in %s; pgha leader %s, timeline %d",
		victim, victim == raftLeader, ms(time.Since(faultAt)), leader, tl)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = e.Restart(ctx, victim)
		}
	})

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	if err := localcluster.Poll(ctx, 50*time.Millisecond, func() error {
		_, err := e.Leader()
		return err
	}); err != nil {
		t.Fatalf("etcd has no leader after losing member %d: %v", victim, err)
	}
	t.Logf("etcd has a leader again %s after the kill", ms(time.Since(faultAt)))

	// Watch for two lease lifetimes from the kill: any renewal the kill
	// disturbed has either failed (and the lease expired) or succeeded
	// by then.
	until := faultAt.Add(2 * h.ttl)
	for time.Now().Before(until) {
		if evs := lw.OtherThan(leader); len(evs) > 0 {
			t.Fatalf("failover after losing an etcd member: leader key changed to %q %s after the kill",
				evs[0].Name, ms(evs[0].At.Sub(faultAt)))
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	probe.Stop()
	probes, bad, first := probe.Result()
	if bad > 0 {
		t.Errorf("demotion after losing an etcd member: %d of %d probes of %s failed, first at %s", bad, probes, leader, first)
	}
	if evs := lw.OtherThan(leader); len(evs) > 0 {
		t.Errorf("failover after losing an etcd member: leader key changed to %q %s after the kill",
			evs[0].Name, ms(evs[0].At.Sub(faultAt)))
	}
	h.ackAfter(t, w, faultAt, "the etcd member kill")
	if g, ok := localcluster.LongestGap(w.Acks(), faultAt, time.Now()); ok {
		t.Logf("longest write gap after the kill: %s", ms(g.Duration()))
	}
	if got := h.timeline(t); got != tl {
		t.Errorf("timeline changed from %d to %d", tl, got)
	}
	if err := e.Restart(ctx, victim); err != nil {
		t.Fatalf("restart etcd member %d: %v", victim, err)
	}
	restarted = true
	h.requireNothingLost(t, w)
	if got := h.waitHealthy(t); got != leader {
		t.Errorf("leader changed from %s to %s", leader, got)
	}
}

// testSwitchover moves the leadership to a named replica under write load:
// nothing acknowledged may be lost and the old primary must follow.
func testSwitchover(t *testing.T, h *harness) {
	leader := h.waitHealthy(t)
	candidate := h.replicaOf(t, leader)
	w := h.startWriter(t)
	lw := h.watchLeader(t)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	at := time.Now()
	if err := h.c.Switchover(ctx, candidate); err != nil {
		t.Fatalf("switchover %s -> %s: %v", leader, candidate, err)
	}
	_, leaderAt, err := h.c.WaitLeader(ctx, func(n string) bool { return n == candidate })
	if err != nil {
		t.Fatalf("%s did not become leader: %v", candidate, err)
	}
	first := h.ackAfter(t, w, leaderAt, "the switchover")
	if ev, ok := lw.First(at, func(n string) bool { return n == candidate }); ok {
		leaderAt = ev.At
	}
	g, _ := localcluster.LongestGap(w.Acks(), at, first.At)
	t.Logf("switchover %s -> %s: new leader in the DCS after %s, first write through HAProxy after %s, write gap %s",
		leader, candidate, ms(leaderAt.Sub(at)), ms(first.At.Sub(at)), ms(g.Duration()))

	h.requireOnePrimary(t, candidate)
	h.requireNothingLost(t, w)
	h.requireLeader(t, candidate, "the switchover")
	// The callbacks ran with Patroni's arguments on both nodes.
	h.waitCallback(t, candidate+" on_role_change primary "+h.c.Scope())
	h.waitCallback(t, leader+" on_role_change demoted "+h.c.Scope())
}

// testPostgresCrashRestart kills only the primary's postmaster with the
// default primary_start_timeout: the agent restarts it in place, the
// leader and timeline stay, and nothing acknowledged is lost.
func testPostgresCrashRestart(t *testing.T, h *harness) {
	h.patchConfig(t, map[string]any{"primary_start_timeout": nil}) // the default, 15 s
	leader := h.waitHealthy(t)
	tl := h.timeline(t)
	oldPID, _ := h.c.Node(leader).PostmasterPID()
	w := h.startWriter(t)
	lw := h.watchLeader(t)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	faultAt, err := h.c.KillPostgres(ctx, leader)
	if err != nil {
		t.Fatalf("kill PostgreSQL on %s: %v", leader, err)
	}
	// An insert in flight at the kill may be acknowledged just after
	// faultAt: the outage ends with the first ack after the restart.
	var newPID int
	if err := localcluster.Poll(ctx, 20*time.Millisecond, func() error {
		if evs := lw.OtherThan(leader); len(evs) > 0 {
			return fmt.Errorf("leader key changed to %q %s after the crash", evs[0].Name, ms(evs[0].At.Sub(faultAt)))
		}
		pid, err := h.c.Node(leader).PostmasterPID()
		if err != nil || pid == 0 || pid == oldPID {
			return fmt.Errorf("postmaster of %s not restarted: pid %d before, %d now (%v)", leader, oldPID, pid, err)
		}
		newPID = pid
		return nil
	}); err != nil {
		t.Fatalf("no restart in place: %v", err)
	}
	restartedAt := time.Now()
	first := h.ackAfter(t, w, restartedAt, "the restart")
	g, _ := localcluster.LongestGap(w.Acks(), faultAt, first.At)
	t.Logf("PostgreSQL crash on %s, restart in place: new postmaster (pid %d) seen after %s, first write through HAProxy after %s, write gap %s",
		leader, newPID, ms(restartedAt.Sub(faultAt)), ms(first.At.Sub(faultAt)), ms(g.Duration()))
	if evs := lw.OtherThan(leader); len(evs) > 0 {
		t.Errorf("leader key changed to %q %s after the crash; want a restart in place", evs[0].Name, ms(evs[0].At.Sub(faultAt)))
	}
	h.requireOnePrimary(t, leader)
	if got := h.timeline(t); got != tl {
		t.Errorf("timeline changed from %d to %d; a restart in place keeps it", tl, got)
	}
	h.requireNothingLost(t, w)
	h.requireLeader(t, leader, "the restart")
}

// testPostgresCrashFailover kills only the primary's postmaster with
// primary_start_timeout 0: a replica takes over at once and the old
// primary rejoins as its replica.
func testPostgresCrashFailover(t *testing.T, h *harness) {
	h.patchConfig(t, map[string]any{"primary_start_timeout": 0})
	t.Cleanup(func() {
		if !t.Failed() {
			h.patchConfig(t, map[string]any{"primary_start_timeout": nil})
		}
	})
	leader := h.waitHealthy(t)
	w := h.startWriter(t)
	lw := h.watchLeader(t)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	faultAt, err := h.c.KillPostgres(ctx, leader)
	if err != nil {
		t.Fatalf("kill PostgreSQL on %s: %v", leader, err)
	}
	newLeader, leaderAt, first, g := h.awaitFailover(ctx, t, w, lw, leader, faultAt, "the PostgreSQL crash on "+leader)
	t.Logf("PostgreSQL crash on %s, failover: new leader %s in the DCS after %s, first write through HAProxy after %s, write gap %s",
		leader, newLeader, ms(leaderAt.Sub(faultAt)), ms(first.At.Sub(faultAt)), ms(g.Duration()))

	h.requireOnePrimary(t, newLeader)
	// Asynchronous replication: a crash may lose what had not reached the
	// new primary (bounded by maximum_lag_on_failover); report it.
	h.verify(t, w)
	h.requireLeader(t, newLeader, "the old primary rejoined")
}

// testNodeCrash kills the primary's agent and postmaster: after the lease
// expires a replica takes the writes through HAProxy, and the old node,
// restarted, rejoins as a replica.
func testNodeCrash(t *testing.T, h *harness) {
	leader := h.waitHealthy(t)
	w := h.startWriter(t)
	lw := h.watchLeader(t)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	faultAt, err := h.c.KillNode(ctx, leader)
	if err != nil {
		t.Fatalf("kill node %s: %v", leader, err)
	}
	newLeader, leaderAt, first, g := h.awaitFailover(ctx, t, w, lw, leader, faultAt, "the crash of "+leader)
	expiry := "not observed"
	if ev, ok := lw.First(faultAt, func(n string) bool { return n == "" }); ok {
		expiry = ms(ev.At.Sub(faultAt)) + " (first write " + ms(first.At.Sub(ev.At)) + " after it)"
	}
	t.Logf("node crash of %s: lease expired after %s, new leader %s in the DCS after %s, first write through HAProxy after %s, write gap %s",
		leader, expiry, newLeader, ms(leaderAt.Sub(faultAt)), ms(first.At.Sub(faultAt)), ms(g.Duration()))
	h.requireOnePrimary(t, newLeader)
	h.verify(t, w) // asynchronous replication: reported, not asserted

	if err := h.c.StartNode(ctx, leader); err != nil {
		t.Fatalf("restart node %s: %v", leader, err)
	}
	rejoinFrom := time.Now()
	if got := h.waitHealthy(t); got != newLeader {
		t.Fatalf("leader %s after %s rejoined, want %s", got, leader, newLeader)
	}
	snap, err := h.c.Snapshot(ctx)
	if err != nil {
		t.Fatalf("read DCS: %v", err)
	}
	m := snap.Member(leader)
	if m == nil || m.IsPrimaryRole() {
		t.Fatalf("old primary %s did not rejoin as a replica: %+v", leader, m)
	}
	t.Logf("%s rejoined as %s (%s) %s after its restart", leader, m.Role, m.State, ms(time.Since(rejoinFrom)))
	h.requireOnePrimary(t, newLeader)
}

// awaitFailover waits, after a fault at faultAt on leader (named by what
// in failures), for another node to take the leader key and for the first
// write acknowledged through HAProxy after that. It returns the new leader,
// when the watch saw it take the key (when polling did, if the watch
// missed it), the first write and the longest write gap since the fault.
func (h *harness) awaitFailover(ctx context.Context, t *testing.T, w *localcluster.Writer, lw *localcluster.LeaderWatch,
	leader string, faultAt time.Time, what string) (string, time.Time, localcluster.Ack, localcluster.Gap) {
	t.Helper()
	newLeader, leaderAt, err := h.c.WaitLeader(ctx, func(n string) bool { return n != "" && n != leader })
	if err != nil {
		t.Fatalf("no failover after %s: %v", what, err)
	}
	if ev, ok := lw.First(faultAt, func(n string) bool { return n == newLeader }); ok {
		leaderAt = ev.At
	}
	first := h.ackAfter(t, w, leaderAt, "the failover")
	g, _ := localcluster.LongestGap(w.Acks(), faultAt, first.At)
	return newLeader, leaderAt, first, g
}

// requireLeader waits until the cluster is healthy and fails the test
// (without stopping it) unless want leads it after what happened.
func (h *harness) requireLeader(t *testing.T, want, after string) {
	t.Helper()
	if got := h.waitHealthy(t); got != want {
		t.Errorf("leader %s after %s, want %s", got, after, want)
	}
}
