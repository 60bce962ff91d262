package dcstest

import (
	"testing"

	"github.com/pgha/pgha/dcs"
)

// testLeaseRebind checks that a guarded Put moves the leader key (and a
// plain Put a member key) from one lease to another: the leader key keeps
// its create revision, the term's fencing token, the old lease's end no
// longer removes it, and the new lease's end does. A holder changes its
// lease this way when the cluster's ttl changes.
func testLeaseRebind(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	obs := b.NewStoreOn(t, s)
	old := mustGrant(t, ctx, s, longTTL)
	r := mustPut(t, ctx, s, dcs.KeyLeader, "a", old, dcs.Cond{Absent: true})
	created := mustKV(t, ctx, obs, dcs.KeyLeader).CreateRevision
	mustPut(t, ctx, s, dcs.MemberKey("a"), "{}", old, dcs.Cond{})

	next := mustGrant(t, ctx, s, longTTL)
	mustPut(t, ctx, s, dcs.KeyLeader, "a", next, dcs.Cond{Leader: term("a", created)})
	mustPut(t, ctx, s, dcs.MemberKey("a"), "{}", next, dcs.Cond{})
	kv := mustKV(t, ctx, obs, dcs.KeyLeader)
	if kv.CreateRevision != created {
		t.Fatalf("leader key create revision %d after the move, want %d (put at %d)", kv.CreateRevision, created, r)
	}
	if err := revoke(ctx, s, old); err != nil {
		t.Fatalf("Revoke the old lease: %v", err)
	}
	if got := mustKV(t, ctx, obs, dcs.KeyLeader); got.CreateRevision != created {
		t.Fatalf("leader key after the old lease ended: %+v", got)
	}
	mustKV(t, ctx, obs, dcs.MemberKey("a"))
	// The term guard still holds with the same token.
	mustPut(t, ctx, s, dcs.KeyStatus, "{}", 0, dcs.Cond{Leader: term("a", created)})
	if err := revoke(ctx, s, next); err != nil {
		t.Fatalf("Revoke the new lease: %v", err)
	}
	mustAbsent(t, ctx, obs, dcs.KeyLeader)
	mustAbsent(t, ctx, obs, dcs.MemberKey("a"))
}
