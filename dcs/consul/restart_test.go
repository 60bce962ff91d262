package consul_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/testutil"
)

// TestAgentRestartUnderLeader restarts the Consul server under a leader
// (Patroni's classic Consul failure). The server keeps its state in a data
// directory, as every production server does, and sessions have no health
// checks, so the restart neither invalidates the session nor deletes the
// leader key: Consul restores the session and restarts its timer (2×TTL)
// when raft elects a leader again. The holder's keepalives fail during the
// restart; what must hold is that no other member acquires the key while
// the holder's term is valid. In practice the restart fits in the holder's
// deadline and it keeps the term, with the same fencing token.
func TestAgentRestartUnderLeader(t *testing.T) {
	a := testutil.StartConsul(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const scope = "restart"
	sa := newStore(t, consul.Config{Address: a.Addr(), Scope: scope})
	sb := newStore(t, consul.Config{Address: a.Addr(), Scope: scope})
	ca, cb := newCandidate(t, sa, "a"), newCandidate(t, sb, "b")
	ta, err := ca.Campaign(ctx)
	if err != nil {
		t.Fatalf("Campaign(a): %v", err)
	}
	lease, err := ca.Lease(ctx)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if _, err := sa.Put(ctx, dcs.MemberKey("a"), []byte(`{"role":"primary"}`), lease, dcs.Cond{}); err != nil {
		t.Fatalf("member key: %v", err)
	}
	won := make(chan *election.Term, 1)
	go func() {
		tb, err := cb.Campaign(ctx)
		if err != nil && ctx.Err() == nil {
			t.Errorf("Campaign(b): %v", err)
		}
		won <- tb
	}()

	start := time.Now()
	a.Restart(t)
	t.Logf("consul server restarted in %v (holder's deadline rule allows %v without renewal)",
		time.Since(start).Round(time.Millisecond), electionOpts.TTL-electionOpts.Margin)

	// Watch for a while after the restart: the holder's keepalives resume,
	// b must not win while a's term is valid.
	watch := time.NewTimer(2 * electionOpts.TTL)
	defer watch.Stop()
	select {
	case tb := <-won:
		if tb == nil {
			t.Fatal("b's campaign ended without a term")
		}
		if tb.Acquired().Before(ta.Deadline()) {
			t.Fatalf("b acquired at %v, before a's deadline %v: overlapping terms", tb.Acquired(), ta.Deadline())
		}
		t.Logf("a's term ended (%v); b acquired after a's deadline", ta.Err())
		return
	case <-watch.C:
	}
	if !ta.Valid(time.Now()) {
		// The restart outlasted the deadline: a stopped acting as leader at
		// its deadline, and b did not get in before it. a's candidate keeps
		// its session and adopts the surviving key again.
		t.Logf("a's term ended during the restart: %v", ta.Err())
		ta2, err := ca.Campaign(ctx)
		if err != nil {
			t.Fatalf("re-campaign of a: %v", err)
		}
		ta = ta2
	}
	p := rawLeader(t, a, scope)
	if p == nil || string(p.Value) != "a" || int64(p.CreateIndex) != ta.Token() {
		t.Fatalf("leader key after the restart = %+v, want a created at %d", p, ta.Token())
	}
	if err := sa.KeepAlive(ctx, lease); err != nil {
		t.Fatalf("session did not survive the restart: %v", err)
	}
	snap, err := sb.Get(ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	found := false
	for _, kv := range snap.KVs {
		found = found || (kv.Key == dcs.MemberKey("a") && kv.Lease == lease)
	}
	if !found {
		t.Fatalf("member key bound to the session lost across the restart: %+v", snap.KVs)
	}
	if _, err := ta.Put(ctx, dcs.KeyStatus, []byte(`{"optime":1}`), dcs.Cond{}); err != nil {
		t.Fatalf("guarded write after the restart: %v", err)
	}
}
