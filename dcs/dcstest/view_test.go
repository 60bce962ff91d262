package dcstest

import (
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// TestViewApply checks that the NoHistory checks reject what the contract
// forbids and accept what it allows.
func TestViewApply(t *testing.T) {
	base := dcs.Snapshot{Revision: 10, KVs: []dcs.KV{{Key: "config", Value: []byte("a"), CreateRevision: 5, ModRevision: 5}}}
	put := func(key, value string, rev int64) dcs.Event {
		return dcs.Event{Type: dcs.EventPut, KV: dcs.KV{Key: key, Value: []byte(value), CreateRevision: rev, ModRevision: rev}}
	}
	del := func(key string, rev int64) dcs.Event {
		return dcs.Event{Type: dcs.EventDelete, KV: dcs.KV{Key: key, ModRevision: rev}}
	}
	snap := func(rev int64, kvs ...dcs.KV) dcs.WatchResponse {
		return dcs.WatchResponse{Revision: rev, Snapshot: &dcs.Snapshot{Revision: rev, KVs: kvs}}
	}
	evs := func(rev int64, e ...dcs.Event) dcs.WatchResponse { return dcs.WatchResponse{Revision: rev, Events: e} }
	tests := []struct {
		name    string
		resps   []dcs.WatchResponse
		wantErr string // empty: all accepted
	}{
		{"events in order", []dcs.WatchResponse{evs(12, put("leader", "x", 11), put("members/a", "m", 12)), evs(13, del("leader", 13))}, ""},
		{"keys deleted together", []dcs.WatchResponse{evs(12, put("leader", "x", 11), put("members/a", "m", 12)), evs(14, del("leader", 14), del("members/a", 14))}, ""},
		{"snapshot first", []dcs.WatchResponse{snap(12, put("leader", "x", 11).KV), evs(13, del("leader", 13))}, ""},
		{"event not above the start", []dcs.WatchResponse{evs(12, put("leader", "x", 10))}, "not above revision 10"},
		{"event not above the last response", []dcs.WatchResponse{evs(12, put("members/a", "m", 12)), evs(13, del("leader", 12))}, "not above revision 12"},
		{"events out of order", []dcs.WatchResponse{evs(13, put("members/a", "m", 12), put("leader", "x", 11))}, "out of order"},
		{"event above its response", []dcs.WatchResponse{evs(11, put("leader", "x", 12))}, "above its response"},
		{"snapshot goes back", []dcs.WatchResponse{evs(12, put("members/a", "m", 12)), snap(11)}, "goes back"},
		{"snapshot with events", []dcs.WatchResponse{{Revision: 12, Snapshot: &dcs.Snapshot{Revision: 12}, Events: []dcs.Event{put("leader", "x", 12)}}}, "snapshot and 1 events"},
		{"put not written", []dcs.WatchResponse{evs(12, put("leader", "y", 11))}, "wrote leader"},
		{"put at an unknown revision", []dcs.WatchResponse{evs(13, put("leader", "x", 13))}, "no put was made"},
		{"delete of a key never deleted", []dcs.WatchResponse{evs(13, del("config", 13))}, "never deleted"},
		{"delete with a value", []dcs.WatchResponse{evs(13, dcs.Event{Type: dcs.EventDelete, KV: dcs.KV{Key: "leader", Value: []byte("x"), ModRevision: 13}})}, "carries a value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newView(base)
			v.writes, v.deletable = newJournal(), map[string]bool{"leader": true, "members/a": true}
			v.writes.add(11, "leader", "x")
			v.writes.add(12, "members/a", "m")
			var err error
			for _, r := range tc.resps {
				if err = v.apply(r); err != nil {
					break
				}
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("apply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("apply = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestViewDiff checks the convergence comparison.
func TestViewDiff(t *testing.T) {
	kv := dcs.KV{Key: "leader", Value: []byte("x"), CreateRevision: 3, ModRevision: 4, Lease: 7}
	v := newView(dcs.Snapshot{Revision: 4, KVs: []dcs.KV{kv}})
	if d := v.diff(dcs.Snapshot{Revision: 9, KVs: []dcs.KV{kv}}); d != "" {
		t.Fatalf("equal states differ: %s", d)
	}
	for _, other := range []dcs.KV{
		{Key: "leader", Value: []byte("y"), CreateRevision: 3, ModRevision: 4, Lease: 7},
		{Key: "leader", Value: []byte("x"), CreateRevision: 2, ModRevision: 4, Lease: 7},
		{Key: "leader", Value: []byte("x"), CreateRevision: 3, ModRevision: 5, Lease: 7},
		{Key: "leader", Value: []byte("x"), CreateRevision: 3, ModRevision: 4, Lease: 8},
		{Key: "config", Value: []byte("x"), CreateRevision: 3, ModRevision: 4, Lease: 7},
	} {
		if d := v.diff(dcs.Snapshot{Revision: 9, KVs: []dcs.KV{other}}); d == "" {
			t.Errorf("view %s equals Get %s", kvString(kv), kvString(other))
		}
	}
	if d := v.diff(dcs.Snapshot{Revision: 9}); d == "" {
		t.Error("view with a key equals an empty Get")
	}
}
