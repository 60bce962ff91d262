package failover

import (
	"errors"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestViewCurrent(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const maxAge, quiet = 6 * time.Second, 2500 * time.Millisecond
	snap := dcs.Snapshot{Revision: 10, KVs: []dcs.KV{{Key: dcs.KeyLeader, Value: []byte("n1"), CreateRevision: 5, ModRevision: 5}}}
	put := func(rev int64) dcs.WatchResponse {
		return dcs.WatchResponse{Revision: rev, Events: []dcs.Event{{Type: dcs.EventPut, KV: dcs.KV{Key: "members/n1", ModRevision: rev}}}}
	}
	// following: a watch runs from a full read at t0; the keepalive sent
	// at t0 succeeded.
	following := func() *dcsView {
		v := &dcsView{}
		v.follow(snap, t0, v.begin())
		v.called(t0, 0, false, nil)
		return v
	}
	for _, tc := range []struct {
		name  string
		setup func() *dcsView
		at    time.Duration // after t0
		want  bool
	}{
		{"never read", func() *dcsView { return &dcsView{} }, 0, false},
		{"read, but no watch follows", func() *dcsView {
			v := &dcsView{}
			v.read(snap, t0, v.begin())
			v.called(t0, 0, false, nil)
			return v
		}, 0, false},
		{"watch follows", following, time.Second, true},
		{"watch ended", func() *dcsView { v := following(); v.unfollow(); return v }, time.Second, false},
		{"last full read one ttl old", following, maxAge, false},
		{"a watch resync snapshot counts as a full read", func() *dcsView {
			v := following()
			v.apply(dcs.WatchResponse{Revision: 12, Snapshot: &dcs.Snapshot{Revision: 12}}, t0.Add(5*time.Second))
			v.called(t0.Add(5*time.Second), 0, false, nil)
			return v
		}, maxAge, true},
		{"no call succeeded for the quiet bound", following, quiet, false},
		{"a keepalive failed", func() *dcsView {
			v := following()
			v.called(t0.Add(time.Second), 0, false, dcs.ErrUnavailable)
			return v
		}, time.Second, false},
		{"a guarded write lost", func() *dcsView {
			v := following()
			v.called(t0, 0, false, dcs.ErrConflict)
			return v
		}, 0, false},
		{"a full read begun after the failure restores it", func() *dcsView {
			v := following()
			v.called(t0, 0, false, errors.New("boom"))
			v.read(snap, t0.Add(time.Second), v.begin())
			return v
		}, time.Second, true},
		{"a full read begun before the failure does not", func() *dcsView {
			v := following()
			epoch := v.begin()
			v.called(t0, 0, false, errors.New("boom"))
			v.read(snap, t0.Add(time.Second), epoch)
			return v
		}, time.Second, false},
		{"own delete: the view may still show the key", func() *dcsView {
			v := following()
			v.called(t0, 0, true, nil)
			return v
		}, 0, false},
		{"own write the watch has not delivered", func() *dcsView {
			v := following()
			v.called(t0, 11, false, nil)
			return v
		}, 0, false},
		{"own write the watch delivered", func() *dcsView {
			v := following()
			v.called(t0, 11, false, nil)
			v.apply(put(11), t0)
			return v
		}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.setup()
			if _, got := v.current(t0.Add(tc.at), maxAge, quiet); got != tc.want {
				t.Errorf("current = %v, want %v", got, tc.want)
			}
		})
	}
}

// A full read older than what the watch delivered does not move the view
// back.
func TestViewReadKeepsNewer(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &dcsView{}
	v.follow(dcs.Snapshot{Revision: 10}, t0, v.begin())
	v.apply(dcs.WatchResponse{Revision: 12, Events: []dcs.Event{{Type: dcs.EventPut, KV: dcs.KV{Key: "failover", ModRevision: 12}}}}, t0)
	got := v.read(dcs.Snapshot{Revision: 11}, t0.Add(time.Second), v.begin())
	if got.Revision != 12 || len(got.KVs) != 1 {
		t.Errorf("read returned %+v, want the view at revision 12", got)
	}
	got = v.read(dcs.Snapshot{Revision: 13}, t0.Add(time.Second), v.begin())
	if got.Revision != 13 || len(got.KVs) != 0 {
		t.Errorf("read returned %+v, want the read at revision 13", got)
	}
}

func TestUpToDate(t *testing.T) {
	val, other := []byte(`{"state":"running"}`), []byte(`{"state":"stopped"}`)
	last := written{value: val, lease: 7, rev: 20}
	seen := &dcs.KV{Key: "members/n1", Value: val, Lease: 7, ModRevision: 20}
	for _, tc := range []struct {
		name    string
		last    written
		value   []byte
		lease   dcs.LeaseID
		viewRev int64
		seen    *dcs.KV
		want    bool
	}{
		{"never written", written{}, val, 7, 30, seen, false},
		{"unchanged, the view shows it", last, val, 7, 30, seen, true},
		{"value changed", last, other, 7, 30, seen, false},
		{"new lease", last, val, 8, 30, seen, false},
		{"the view predates the write", last, val, 7, 19, nil, true},
		{"no view yet", last, val, 7, -1, nil, true},
		{"deleted behind this node's back", last, val, 7, 30, nil, false},
		{"changed behind this node's back", last, val, 7, 30, &dcs.KV{Value: other, Lease: 7}, false},
		{"bound to another lease", last, val, 7, 30, &dcs.KV{Value: val, Lease: 3}, false},
		{"status key: no lease", written{value: val, rev: 20}, val, 0, 25, &dcs.KV{Value: val}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := upToDate(tc.last, tc.value, tc.lease, tc.viewRev, tc.seen); got != tc.want {
				t.Errorf("upToDate = %v, want %v", got, tc.want)
			}
		})
	}
}
