package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// TestQuorumPatroniTimings runs a cluster at Patroni's default timings
// (ttl 30 s, loop_wait 10 s) in synchronous_mode quorum and kills the
// primary's node under write load, with writers through HAProxy and on
// every node. A replica must take over, no acknowledged write may be lost
// and no two nodes may acknowledge writes at once.
//
// The race compares the replicas' WAL positions from GET /patroni. The
// simulation found that positions a loop old (up to loop_wait: 10 s here)
// let a replica that lacked acknowledged commits win the race: quorum
// mode lost 125 of them with loop_wait 10. GET /patroni now reads the
// positions at the request (healthapi.LiveSource); this is that case
// with real processes.
func TestQuorumPatroniTimings(t *testing.T) {
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.DCS = map[string]any{"ttl": 30, "loop_wait": 10, "synchronous_mode": "quorum"}
	})
	if h.ttl != 30*time.Second {
		t.Fatalf("the cluster runs with ttl %v, want 30s", h.ttl)
	}
	leader := h.waitHealthy(t)
	ctx, cancel := context.WithTimeout(h.ctx, 3*waitTimeout)
	defer cancel()
	standbys, err := h.c.WaitQuorum(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("synchronous standbys of %s: %v", leader, standbys)

	obs, err := h.c.StartObserver(ctx, leader, waitTimeout)
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	defer obs.Stop()
	faultAt, err := h.c.KillNode(ctx, leader)
	if err != nil {
		t.Fatalf("kill node %s: %v", leader, err)
	}
	newLeader, leaderAt, err := h.c.WaitLeader(ctx, func(n string) bool { return n != "" && n != leader })
	if err != nil {
		t.Fatalf("no failover after the crash of %s: %v", leader, err)
	}
	if _, err := obs.WaitWrites(ctx, "", leaderAt, waitTimeout); err != nil {
		t.Errorf("writes after %s took over: %v", newLeader, err)
	}
	t.Logf("node crash of %s: %s took the leader key after %s", leader, newLeader, ms(leaderAt.Sub(faultAt)))

	if err := h.c.StartNode(ctx, leader); err != nil {
		t.Fatalf("restart node %s: %v", leader, err)
	}
	hctx, hcancel := context.WithTimeout(ctx, 2*waitTimeout)
	defer hcancel()
	if got, err := h.c.WaitHealthy(hctx); err != nil || got != newLeader {
		t.Fatalf("leader %q after %s rejoined (%v), want %s", got, leader, err, newLeader)
	}
	obs.Stop()
	a := obs.Analyze(leader, faultAt, time.Now())
	checkOneWriter(t, a)
	res, err := obs.Verify(ctx)
	if err != nil {
		t.Fatalf("verify acknowledged writes: %v", err)
	}
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost; longest gap %s through HAProxy, %s directly",
		res.Acked, res.Found, res.Primary, res.Lost, ms(a.ProxyGap.Duration()), ms(a.DirectGap.Duration()))
	checkNothingLost(t, res)
	h.requireOnePrimary(t, newLeader)
}
