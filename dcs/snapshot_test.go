package dcs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

func TestSnapshotApply(t *testing.T) {
	kv := func(key, val string, create, mod int64) dcs.KV {
		return dcs.KV{Key: key, Value: []byte(val), CreateRevision: create, ModRevision: mod}
	}
	put := func(k dcs.KV) dcs.Event { return dcs.Event{Type: dcs.EventPut, KV: k} }
	del := func(key string, mod int64) dcs.Event {
		return dcs.Event{Type: dcs.EventDelete, KV: dcs.KV{Key: key, ModRevision: mod}}
	}
	base := dcs.Snapshot{Revision: 10, KVs: []dcs.KV{kv("config", "{}", 2, 2), kv("leader", "n1", 5, 5), kv("members/n1", "a", 3, 9)}}
	for _, tc := range []struct {
		name string
		resp dcs.WatchResponse
		want dcs.Snapshot
	}{
		{"put of a new key keeps the keys sorted",
			dcs.WatchResponse{Revision: 11, Events: []dcs.Event{put(kv("initialize", "1", 11, 11))}},
			dcs.Snapshot{Revision: 11, KVs: []dcs.KV{kv("config", "{}", 2, 2), kv("initialize", "1", 11, 11), kv("leader", "n1", 5, 5), kv("members/n1", "a", 3, 9)}}},
		{"put replaces a key",
			dcs.WatchResponse{Revision: 12, Events: []dcs.Event{put(kv("members/n1", "b", 3, 12))}},
			dcs.Snapshot{Revision: 12, KVs: []dcs.KV{kv("config", "{}", 2, 2), kv("leader", "n1", 5, 5), kv("members/n1", "b", 3, 12)}}},
		{"delete removes a key; deleting an absent key is nothing",
			dcs.WatchResponse{Revision: 13, Events: []dcs.Event{del("leader", 13), del("members/n2", 13)}},
			dcs.Snapshot{Revision: 13, KVs: []dcs.KV{kv("config", "{}", 2, 2), kv("members/n1", "a", 3, 9)}}},
		{"events the snapshot already reflects are skipped",
			dcs.WatchResponse{Revision: 10, Events: []dcs.Event{del("leader", 8), put(kv("members/n1", "old", 3, 10))}},
			base},
		{"an older event is skipped, a newer one in the same response applied",
			dcs.WatchResponse{Revision: 11, Events: []dcs.Event{put(kv("config", "old", 2, 9)), put(kv("config", "new", 2, 11))}},
			dcs.Snapshot{Revision: 11, KVs: []dcs.KV{kv("config", "new", 2, 11), kv("leader", "n1", 5, 5), kv("members/n1", "a", 3, 9)}}},
		{"a newer snapshot replaces everything",
			dcs.WatchResponse{Revision: 20, Snapshot: &dcs.Snapshot{Revision: 20, KVs: []dcs.KV{kv("leader", "n2", 18, 18)}}},
			dcs.Snapshot{Revision: 20, KVs: []dcs.KV{kv("leader", "n2", 18, 18)}}},
		{"an older snapshot is ignored",
			dcs.WatchResponse{Revision: 7, Snapshot: &dcs.Snapshot{Revision: 7}},
			base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fmt.Sprint(base)
			got := base.Apply(tc.resp)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Apply = %v\nwant    %v", got, tc.want)
			}
			if fmt.Sprint(base) != before {
				t.Errorf("Apply modified its receiver: %v, was %v", base, before)
			}
		})
	}
}

// A watcher that applies every response to the snapshot it started from
// sees what Get returns once writes stop, also when its view is replaced by
// a newer Get midway (events it already reflects are then skipped).
func TestSnapshotApplyConverges(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := memory.NewCluster(memory.ClusterOptions{Clock: clock.Real()})
			t.Cleanup(func() { c.Close() })
			s := c.Store(dcs.Prefix("", "apply"), memory.StoreOptions{})
			view, err := s.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wch := s.Watch(ctx, view.Revision)
			rng := rand.New(rand.NewPCG(seed, 1))
			keys := []string{"leader", "config", "members/a", "members/b", "status"}
			for i := range 40 {
				k := keys[rng.IntN(len(keys))]
				if rng.IntN(3) == 0 {
					err = s.Delete(ctx, k, dcs.Cond{})
				} else {
					_, err = s.Put(ctx, k, []byte(fmt.Sprint(i)), 0, dcs.Cond{})
				}
				if err != nil {
					t.Fatal(err)
				}
				if i == 20 { // a fresh read overtakes the watch
					g, err := s.Get(ctx)
					if err != nil {
						t.Fatal(err)
					}
					view = view.Apply(dcs.WatchResponse{Revision: g.Revision, Snapshot: &g})
				}
			}
			want, err := s.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for view.Revision < want.Revision {
				select {
				case resp, ok := <-wch:
					if !ok {
						t.Fatalf("watch closed at revision %d, want %d", view.Revision, want.Revision)
					}
					view = view.Apply(resp)
				case <-ctx.Done():
					t.Fatalf("view at revision %d, want %d", view.Revision, want.Revision)
				}
			}
			if !reflect.DeepEqual(view.KVs, want.KVs) {
				t.Errorf("view %v\nGet  %v", view.KVs, want.KVs)
			}
		})
	}
}
