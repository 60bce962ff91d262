package dcstest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pgha/pgha/dcs"
)

const (
	raceContenders = 5
	raceRounds     = 100
)

// testLeaderRace races contenders, each a separate client with its own
// lease, for the leader key: exactly one create-if-absent wins each round,
// the losers get ErrConflict, and the key holds the winner's name and lease.
func testLeaderRace(t *testing.T, b Backend) {
	ctx := testCtx(t)
	first := b.NewStore(t)
	stores := make([]dcs.Store, raceContenders)
	leases := make([]dcs.LeaseID, raceContenders)
	for i := range stores {
		if i == 0 {
			stores[i] = first
		} else {
			stores[i] = b.NewStoreOn(t, first)
		}
		leases[i] = mustGrant(t, ctx, stores[i], longTTL)
	}
	wins := make([]int, raceContenders)
	for round := range raceRounds {
		revs := make([]int64, raceContenders)
		errs := make([]error, raceContenders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				revs[i], errs[i] = put(ctx, stores[i], dcs.KeyLeader, fmt.Sprintf("node%d", i), leases[i], dcs.Cond{Absent: true})
			}()
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: node%d and node%d both acquired the leader key", round, winner, i)
				}
				winner = i
			case !errors.Is(err, dcs.ErrConflict):
				t.Fatalf("round %d: node%d lost with %v, want ErrConflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody acquired the leader key: %v", round, errs)
		}
		wins[winner]++
		kv := mustKV(t, ctx, stores[(round+1)%raceContenders], dcs.KeyLeader)
		if want := fmt.Sprintf("node%d", winner); string(kv.Value) != want || kv.Lease != leases[winner] || kv.CreateRevision != revs[winner] {
			t.Fatalf("round %d: leader key %+v, want %s with lease %d created at %d", round, kv, want, leases[winner], revs[winner])
		}
		if err := del(ctx, stores[winner], dcs.KeyLeader, dcs.Cond{Leader: term(string(kv.Value), revs[winner])}); err != nil {
			t.Fatalf("round %d: guarded release by the winner: %v", round, err)
		}
	}
	t.Logf("wins per contender over %d rounds: %v", raceRounds, wins)
	for i, s := range stores {
		if err := revoke(ctx, s, leases[i]); err != nil {
			t.Errorf("Revoke: %v", err)
		}
	}
}

// testGuardedRelease checks that a release guarded by a term deletes the
// leader key only within that term: not another member's key, not the same
// member's key re-created in a later term.
func testGuardedRelease(t *testing.T, b Backend) {
	ctx := testCtx(t)
	a := b.NewStore(t)
	other := b.NewStoreOn(t, a)
	la := mustGrant(t, ctx, a, longTTL)
	lb := mustGrant(t, ctx, other, longTTL)

	r1 := mustPut(t, ctx, a, dcs.KeyLeader, "a", la, dcs.Cond{Absent: true})
	for _, tc := range []struct {
		name string
		term *dcs.Leader
	}{
		{"other member, same revision", term("b", r1)},
		{"other member, other revision", term("b", r1+1)},
		{"same member, older revision", term("a", r1-1)},
		{"same member, newer revision", term("a", r1+1)},
	} {
		if err := del(ctx, other, dcs.KeyLeader, dcs.Cond{Leader: tc.term}); !errors.Is(err, dcs.ErrConflict) {
			t.Fatalf("release with %s = %v, want ErrConflict", tc.name, err)
		}
		if kv := mustKV(t, ctx, a, dcs.KeyLeader); string(kv.Value) != "a" || kv.CreateRevision != r1 {
			t.Fatalf("release with %s changed the leader key: %+v", tc.name, kv)
		}
	}

	// The term ends (lease revoked, as on expiry); the same member wins again.
	if err := revoke(ctx, a, la); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	mustAbsent(t, ctx, other, dcs.KeyLeader)
	if err := del(ctx, a, dcs.KeyLeader, dcs.Cond{Leader: term("a", r1)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("release of an absent leader key = %v, want ErrConflict", err)
	}
	la2 := mustGrant(t, ctx, a, longTTL)
	r2 := mustPut(t, ctx, a, dcs.KeyLeader, "a", la2, dcs.Cond{Absent: true})
	if r2 <= r1 {
		t.Fatalf("new term revision %d not above old %d", r2, r1)
	}
	if err := del(ctx, a, dcs.KeyLeader, dcs.Cond{Leader: term("a", r1)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("release by the ended term = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, other, dcs.KeyLeader); kv.CreateRevision != r2 {
		t.Fatalf("leader key after stale release: %+v, want create revision %d", kv, r2)
	}

	// Another member takes over; the old holder cannot remove it.
	if err := del(ctx, a, dcs.KeyLeader, dcs.Cond{Leader: term("a", r2)}); err != nil {
		t.Fatalf("release within the term: %v", err)
	}
	r3 := mustPut(t, ctx, other, dcs.KeyLeader, "b", lb, dcs.Cond{Absent: true})
	if err := del(ctx, a, dcs.KeyLeader, dcs.Cond{Leader: term("a", r2)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("release of another member's key = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, a, dcs.KeyLeader); string(kv.Value) != "b" || kv.CreateRevision != r3 || kv.Lease != lb {
		t.Fatalf("leader key = %+v, want b created at %d with lease %d", kv, r3, lb)
	}
}

// testGuardedWrite checks that writes on behalf of a leader term succeed
// only while that term holds the leader key.
func testGuardedWrite(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)

	if _, err := put(ctx, s, dcs.KeySync, "{}", 0, dcs.Cond{Leader: term("a", 1)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("guarded Put without a leader key = %v, want ErrConflict", err)
	}
	la := mustGrant(t, ctx, s, longTTL)
	r1 := mustPut(t, ctx, s, dcs.KeyLeader, "a", la, dcs.Cond{Absent: true})
	t1 := term("a", r1)
	w1 := mustPut(t, ctx, s, dcs.KeySync, `{"leader":"a"}`, 0, dcs.Cond{Leader: t1})
	// Guards combine with AND.
	w2 := mustPut(t, ctx, s, dcs.KeySync, `{"leader":"a","quorum":1}`, 0, dcs.Cond{Leader: t1, ModRevision: w1})
	if _, err := put(ctx, s, dcs.KeySync, "{}", 0, dcs.Cond{Leader: t1, ModRevision: w1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("guarded CAS with a stale revision = %v, want ErrConflict", err)
	}
	if _, err := put(ctx, s, dcs.KeySync, "{}", 0, dcs.Cond{Leader: term("b", r1)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Put guarded by another name = %v, want ErrConflict", err)
	}

	// End the term; a new one begins for the same name.
	if err := revoke(ctx, s, la); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := put(ctx, s, dcs.KeySync, "{}", 0, dcs.Cond{Leader: t1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Put on behalf of an ended term (no leader) = %v, want ErrConflict", err)
	}
	lb := mustGrant(t, ctx, other, longTTL)
	r2 := mustPut(t, ctx, other, dcs.KeyLeader, "a", lb, dcs.Cond{Absent: true})
	if _, err := put(ctx, s, dcs.KeySync, "{}", 0, dcs.Cond{Leader: t1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Put on behalf of an ended term (same name, new term) = %v, want ErrConflict", err)
	}
	if err := del(ctx, s, dcs.KeySync, dcs.Cond{Leader: t1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Delete on behalf of an ended term = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, other, dcs.KeySync); kv.ModRevision != w2 {
		t.Fatalf("sync key changed by an ended term: %+v", kv)
	}
	mustPut(t, ctx, other, dcs.KeySync, `{"leader":"a"}`, 0, dcs.Cond{Leader: term("a", r2)})
}
