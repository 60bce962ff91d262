package dcstest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// testLeaseLost checks revocation: bound keys vanish, and KeepAlive or Put
// with the dead lease report ErrLeaseLost.
func testLeaseLost(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)
	id := mustGrant(t, ctx, s, longTTL)
	if err := keepAlive(ctx, s, id); err != nil {
		t.Fatalf("KeepAlive of a live lease: %v", err)
	}
	mustPut(t, ctx, s, dcs.KeyLeader, "a", id, dcs.Cond{Absent: true})
	mustPut(t, ctx, s, dcs.MemberKey("a"), "{}", id, dcs.Cond{})
	mustPut(t, ctx, s, dcs.KeyConfig, "{}", 0, dcs.Cond{})
	if err := revoke(ctx, other, id); err != nil {
		t.Fatalf("Revoke from another client: %v", err)
	}
	snap := mustGet(t, ctx, s)
	if len(snap.KVs) != 1 || snap.KVs[0].Key != dcs.KeyConfig {
		t.Fatalf("after Revoke the prefix holds %+v, want only config", snap.KVs)
	}
	if err := revoke(ctx, s, id); err != nil {
		t.Fatalf("second Revoke = %v, want nil", err)
	}
	if err := keepAlive(ctx, s, id); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("KeepAlive of a revoked lease = %v, want ErrLeaseLost", err)
	}
	if _, err := put(ctx, s, dcs.MemberKey("a"), "{}", id, dcs.Cond{}); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("Put with a revoked lease = %v, want ErrLeaseLost", err)
	}
	if _, err := put(ctx, s, dcs.KeyLeader, "a", id, dcs.Cond{Absent: true}); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("leader acquire with a revoked lease = %v, want ErrLeaseLost", err)
	}
	mustAbsent(t, ctx, other, dcs.KeyLeader)
	mustAbsent(t, ctx, other, dcs.MemberKey("a"))
}

// testLeaseExpiry checks that once keepalives stop, the keys bound to the
// lease survive until TTL after the last keepalive and vanish within
// ExpiryTolerance after it, with delete events on the watch (without
// history: a watcher's view that converges to their absence); that the
// dead lease is lost; and that the expired term cannot release a re-created
// key.
func testLeaseExpiry(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	obs := b.NewStoreOn(t, s)
	keys := []string{dcs.KeyLeader, dcs.MemberKey("a")}

	id := mustGrant(t, ctx, s, b.TTL)
	r1 := mustPut(t, ctx, s, dcs.KeyLeader, "a", id, dcs.Cond{Absent: true})
	r2 := mustPut(t, ctx, s, dcs.MemberKey("a"), `{"role":"primary"}`, id, dcs.Cond{})
	mustPut(t, ctx, s, dcs.KeyConfig, "{}", 0, dcs.Cond{})
	var w *watchLog
	var v *view // the watcher's view, without history
	if b.NoHistory {
		base := mustGet(t, ctx, obs)
		v = newView(base)
		w = startWatch(t, ctx, obs, base.Revision)
	} else {
		w = startWatch(t, ctx, obs, r2)
		if evs := w.next(1); evs[0].KV.Key != dcs.KeyConfig {
			t.Fatalf("watch from %d started with %s", r2, fmtEvents(evs))
		}
	}

	present := func(snap dcs.Snapshot) []string {
		var out []string
		for _, k := range keys {
			if _, ok := find(snap, k); ok {
				out = append(out, k)
			}
		}
		return out
	}

	sent := time.Now()
	if err := keepAlive(ctx, s, id); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	answered := time.Now()
	if b.Advance != nil {
		early := b.TTL / 10
		b.Advance(b.TTL - early)
		if got := present(mustGet(t, ctx, obs)); len(got) != len(keys) {
			t.Fatalf("%v before TTL only %v of %v remain", b.TTL-early, got, keys)
		}
		b.Advance(early + b.ExpiryTolerance)
	} else {
		// Keys must exist whenever a read is answered before the earliest
		// possible expiry, TTL after the keepalive was sent. Poll up to
		// then, not to TTL - ExpiryTolerance: with a tolerance of TTL or
		// more (Consul) that would check nothing.
		checks := 0
		for time.Now().Before(sent.Add(b.TTL)) {
			snap := mustGet(t, ctx, obs)
			if time.Now().Before(sent.Add(b.TTL)) {
				checks++
				if got := present(snap); len(got) != len(keys) {
					t.Fatalf("%v after the keepalive (TTL %v) only %v of %v remain", time.Since(sent), b.TTL, got, keys)
				}
			}
			timer := time.NewTimer(pollInterval)
			<-timer.C
		}
		t.Logf("keys checked present %d times before TTL", checks)
	}
	gone := time.Now()
	eventually(t, waitTimeout, "lease expiry", func() (bool, string) {
		got := present(mustGet(t, ctx, obs))
		gone = time.Now()
		return len(got) == 0, fmt.Sprintf("still present: %v", got)
	})
	if b.Advance == nil {
		// The poll may notice up to one interval plus one read late.
		late := gone.Sub(answered) - b.TTL
		t.Logf("keys gone %v after TTL (tolerance %v)", late, b.ExpiryTolerance)
		if late > b.ExpiryTolerance+2*time.Second {
			t.Errorf("keys vanished %v after TTL, tolerance %v", late, b.ExpiryTolerance)
		}
	}

	if b.NoHistory {
		// The keys may show up as deleted in any response, or in a resync
		// snapshot without them: the view must end with them absent.
		w.converge(v, mustGet(t, ctx, obs))
		for _, k := range keys {
			if kv, ok := v.kvs[k]; ok {
				t.Fatalf("the watcher still sees %s after expiry", kvString(kv))
			}
		}
	} else {
		evs := w.next(len(keys))
		seen := map[string]bool{}
		last := r2
		for _, ev := range evs {
			if ev.Type != dcs.EventDelete || ev.KV.ModRevision < last {
				t.Fatalf("expiry events out of order or not deletes: %s", fmtEvents(evs))
			}
			last = ev.KV.ModRevision
			seen[ev.KV.Key] = true
		}
		for _, k := range keys {
			if !seen[k] {
				t.Fatalf("no delete event for %q: %s", k, fmtEvents(evs))
			}
		}
	}

	if err := keepAlive(ctx, s, id); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("KeepAlive of an expired lease = %v, want ErrLeaseLost", err)
	}
	if _, err := put(ctx, s, dcs.MemberKey("a"), "{}", id, dcs.Cond{}); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("Put with an expired lease = %v, want ErrLeaseLost", err)
	}
	if err := revoke(ctx, s, id); err != nil {
		t.Fatalf("Revoke of an expired lease = %v, want nil", err)
	}

	// Same name, new term: the expired term cannot release it.
	id2 := mustGrant(t, ctx, s, longTTL)
	r3 := mustPut(t, ctx, s, dcs.KeyLeader, "a", id2, dcs.Cond{Absent: true})
	if r3 <= r1 {
		t.Fatalf("re-created leader revision %d not above %d", r3, r1)
	}
	if err := del(ctx, s, dcs.KeyLeader, dcs.Cond{Leader: term("a", r1)}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("release by the expired term = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, obs, dcs.KeyLeader); kv.CreateRevision != r3 {
		t.Fatalf("leader key = %+v, want create revision %d", kv, r3)
	}
	if err := revoke(ctx, s, id2); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}
