package dcstest

import (
	"testing"

	"github.com/pgha/pgha/dcs"
)

// testGetConsistent checks that a read from any client of the cluster sees
// every write acknowledged before it, with the revisions the writes
// returned.
func testGetConsistent(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)

	empty := mustGet(t, ctx, s)
	if len(empty.KVs) != 0 {
		t.Fatalf("fresh prefix holds keys: %+v", empty.KVs)
	}
	lease := mustGrant(t, ctx, s, longTTL)
	var last int64
	want := map[string]string{}
	for i, key := range []string{"config", "initialize", "members/a", "members/b", "status", "config"} {
		var l dcs.LeaseID
		if key == "members/a" {
			l = lease
		}
		v := key + "-" + string(rune('0'+i))
		rev := mustPut(t, ctx, s, key, v, l, dcs.Cond{})
		if rev <= last {
			t.Fatalf("Put(%q) revision %d not above previous %d", key, rev, last)
		}
		last = rev
		want[key] = v

		for _, r := range []dcs.Store{s, other} {
			snap := mustGet(t, ctx, r)
			if snap.Revision < rev {
				t.Fatalf("Get revision %d below last write %d", snap.Revision, rev)
			}
			kv, ok := find(snap, key)
			if !ok || string(kv.Value) != v || kv.ModRevision != rev {
				t.Fatalf("after Put(%q)=%q at %d, Get has %+v (found %v)", key, v, rev, kv, ok)
			}
		}
	}
	snap := mustGet(t, ctx, other)
	if len(snap.KVs) != len(want) {
		t.Fatalf("Get returned %d keys, want %d: %+v", len(snap.KVs), len(want), snap.KVs)
	}
	for _, kv := range snap.KVs {
		if want[kv.Key] != string(kv.Value) {
			t.Errorf("key %q = %q, want %q", kv.Key, kv.Value, want[kv.Key])
		}
		if kv.CreateRevision <= 0 || kv.ModRevision < kv.CreateRevision || kv.ModRevision > snap.Revision {
			t.Errorf("key %q: create %d mod %d snapshot %d out of order", kv.Key, kv.CreateRevision, kv.ModRevision, snap.Revision)
		}
		wantLease := dcs.LeaseID(0)
		if kv.Key == "members/a" {
			wantLease = lease
		}
		if kv.Lease != wantLease {
			t.Errorf("key %q lease = %d, want %d", kv.Key, kv.Lease, wantLease)
		}
	}
	cfg, _ := find(snap, "config")
	if cfg.CreateRevision == cfg.ModRevision {
		t.Errorf("config rewritten but create revision %d equals mod revision", cfg.CreateRevision)
	}
}
