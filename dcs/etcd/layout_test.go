package etcd_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// TestPatroniLayout checks the raw etcd keys: the store writes exactly where
// Patroni's etcd3 backend does, the leader value is the bare member name,
// leader and member keys carry the lease, and Get sees only its own prefix.
func TestPatroniLayout(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	raw := c.Client(t)
	ctx := opCtx(t)

	tests := []struct {
		namespace, scope string
		wantPrefix       string
	}{
		{"", "demo", "/service/demo/"},
		{"/service/", "demo2", "/service/demo2/"},
		{"pgha/prod", "main", "/pgha/prod/main/"},
	}
	for _, tc := range tests {
		t.Run(tc.wantPrefix, func(t *testing.T) {
			s := newStore(t, etcd.Config{Endpoints: c.Endpoints(), Namespace: tc.namespace, Scope: tc.scope})
			if s.Prefix() != tc.wantPrefix {
				t.Fatalf("Prefix() = %q, want %q", s.Prefix(), tc.wantPrefix)
			}
			lease, err := s.Grant(ctx, 30*time.Second)
			if err != nil {
				t.Fatalf("Grant: %v", err)
			}
			lr := mustPut(t, s, dcs.KeyLeader, "node1", lease, dcs.Cond{Absent: true})
			mustPut(t, s, dcs.MemberKey("node1"), `{"role":"primary"}`, lease, dcs.Cond{})
			mustPut(t, s, dcs.KeyInitialize, "7268616322854375442", 0, dcs.Cond{Absent: true})

			resp, err := raw.Get(ctx, tc.wantPrefix, clientv3.WithPrefix())
			if err != nil {
				t.Fatalf("raw Get: %v", err)
			}
			got := map[string]string{}
			leases := map[string]int64{}
			for _, kv := range resp.Kvs {
				got[string(kv.Key)] = string(kv.Value)
				leases[string(kv.Key)] = kv.Lease
			}
			want := map[string]string{
				tc.wantPrefix + "leader":        "node1",
				tc.wantPrefix + "members/node1": `{"role":"primary"}`,
				tc.wantPrefix + "initialize":    "7268616322854375442",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("raw key %q = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("raw keys %v, want exactly %v", got, want)
			}
			for _, k := range []string{"leader", "members/node1"} {
				if leases[tc.wantPrefix+k] != int64(lease) {
					t.Errorf("raw key %q lease %x, want %x", k, leases[tc.wantPrefix+k], int64(lease))
				}
			}
			if l := leases[tc.wantPrefix+"initialize"]; l != 0 {
				t.Errorf("initialize bound to lease %x, want none", l)
			}

			// Keys of a sibling scope sharing the name as a prefix, and of
			// the parent, are not part of the snapshot.
			for _, k := range []string{tc.wantPrefix[:len(tc.wantPrefix)-1] + "x/leader", tc.wantPrefix[:len(tc.wantPrefix)-1]} {
				if _, err := raw.Put(ctx, k, "other"); err != nil {
					t.Fatalf("raw Put: %v", err)
				}
			}
			snap, err := s.Get(ctx)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if len(snap.KVs) != 3 {
				t.Fatalf("snapshot %+v, want the 3 keys of the scope", snap.KVs)
			}
			kv, ok := find(snap, dcs.KeyLeader)
			if !ok || string(kv.Value) != "node1" || kv.CreateRevision != lr || kv.ModRevision != lr || kv.Lease != lease {
				t.Fatalf("leader KV %+v, want node1 at revision %d with lease %x", kv, lr, int64(lease))
			}
			if snap.Revision < lr {
				t.Fatalf("snapshot revision %d below the leader write %d", snap.Revision, lr)
			}
			cl := dcs.Parse(snap)
			if cl.Leader == nil || cl.Leader.Name != "node1" || cl.Leader.Revision != lr {
				t.Fatalf("parsed leader %+v", cl.Leader)
			}
			if err := s.Revoke(ctx, lease); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		})
	}
}
