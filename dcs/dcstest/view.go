package dcstest

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"github.com/pgha/pgha/dcs"
)

// view is what a watcher knows of the prefix: a snapshot with the later
// events applied. It checks each response it applies against the watch
// contract of backends without history (Backend.NoHistory): revisions
// increase, and what is delivered agrees with the writes the test made.
type view struct {
	kvs map[string]dcs.KV
	rev int64 // revision of the last snapshot or event applied

	// writes, when non-nil, holds every put the test made under the
	// prefix; each delivered key must then match the put at its
	// ModRevision.
	writes *journal
	// deletable, when non-nil, holds the keys the test deletes; a delete
	// event for any other key is an error.
	deletable map[string]bool
	// check, when non-nil, is called for every delivered key, in order.
	check func(dcs.KV) error

	snapshots, events int
}

// newView starts a view from base, the state the watcher knew at
// base.Revision (the revision it passes to Watch).
func newView(base dcs.Snapshot) *view {
	v := &view{kvs: map[string]dcs.KV{}, rev: base.Revision}
	for _, kv := range base.KVs {
		v.kvs[kv.Key] = kv
	}
	return v
}

// apply applies one response. Events must be above the revision of
// everything applied before the response and non-decreasing within it
// (keys deleted together by a lease share a revision); a snapshot must not
// go back.
func (v *view) apply(resp dcs.WatchResponse) error {
	if resp.Snapshot != nil {
		if len(resp.Events) != 0 {
			return fmt.Errorf("response carries a snapshot and %d events", len(resp.Events))
		}
		if resp.Snapshot.Revision < v.rev {
			return fmt.Errorf("snapshot at revision %d goes back from %d", resp.Snapshot.Revision, v.rev)
		}
		for _, kv := range resp.Snapshot.KVs {
			if err := v.delivered(kv); err != nil {
				return fmt.Errorf("snapshot at revision %d: %w", resp.Snapshot.Revision, err)
			}
		}
		clear(v.kvs)
		for _, kv := range resp.Snapshot.KVs {
			v.kvs[kv.Key] = kv
		}
		v.rev = resp.Snapshot.Revision
		v.snapshots++
		return nil
	}
	before, last := v.rev, v.rev
	for _, ev := range resp.Events {
		r := ev.KV.ModRevision
		switch {
		case r <= before:
			return fmt.Errorf("event %s not above revision %d already seen", fmtEvents([]dcs.Event{ev}), before)
		case r < last:
			return fmt.Errorf("events out of order: %s", fmtEvents(resp.Events))
		case r > resp.Revision:
			return fmt.Errorf("event %s above its response's revision %d", fmtEvents([]dcs.Event{ev}), resp.Revision)
		}
		switch ev.Type {
		case dcs.EventPut:
			if err := v.delivered(ev.KV); err != nil {
				return err
			}
			v.kvs[ev.KV.Key] = ev.KV
		case dcs.EventDelete:
			if len(ev.KV.Value) != 0 {
				return fmt.Errorf("delete event carries a value: %s", fmtEvents([]dcs.Event{ev}))
			}
			if v.deletable != nil && !v.deletable[ev.KV.Key] {
				return fmt.Errorf("delete event for %q, a key the test never deleted", ev.KV.Key)
			}
			delete(v.kvs, ev.KV.Key)
		default:
			return fmt.Errorf("event of unknown type %v", ev.Type)
		}
		last = r
		v.events++
	}
	v.rev = last
	return nil
}

// delivered checks one delivered key against the writes.
func (v *view) delivered(kv dcs.KV) error {
	if v.writes != nil {
		if err := v.writes.match(kv); err != nil {
			return err
		}
	}
	if v.check != nil {
		return v.check(kv)
	}
	return nil
}

// diff describes how v differs from snap; empty when they are equal.
func (v *view) diff(snap dcs.Snapshot) string {
	var out []string
	want := map[string]dcs.KV{}
	for _, kv := range snap.KVs {
		want[kv.Key] = kv
		got, ok := v.kvs[kv.Key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s missing", kvString(kv)))
		case !sameKV(got, kv):
			out = append(out, fmt.Sprintf("%s, Get has %s", kvString(got), kvString(kv)))
		}
	}
	for key, kv := range v.kvs {
		if _, ok := want[key]; !ok {
			out = append(out, fmt.Sprintf("%s absent from Get", kvString(kv)))
		}
	}
	if len(out) == 0 {
		return ""
	}
	sort.Strings(out)
	return fmt.Sprintf("view at revision %d (%d snapshots, %d events applied): %v", v.rev, v.snapshots, v.events, out)
}

func sameKV(a, b dcs.KV) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
		a.ModRevision == b.ModRevision && a.Lease == b.Lease
}

func kvString(kv dcs.KV) string {
	return fmt.Sprintf("%s=%q (create %d, mod %d, lease %d)", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Lease)
}

// journal records the puts a test makes: revision -> key and value. Safe
// for concurrent use.
type journal struct {
	mu   sync.Mutex
	puts map[int64]dcs.KV
}

func newJournal() *journal { return &journal{puts: map[int64]dcs.KV{}} }

func (j *journal) add(rev int64, key, value string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.puts[rev] = dcs.KV{Key: key, Value: []byte(value)}
}

// match reports an error unless kv is what the put at its ModRevision
// wrote.
func (j *journal) match(kv dcs.KV) error {
	j.mu.Lock()
	w, ok := j.puts[kv.ModRevision]
	j.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%s: no put was made at revision %d", kvString(kv), kv.ModRevision)
	case w.Key != kv.Key || !bytes.Equal(w.Value, kv.Value):
		return fmt.Errorf("%s: the put at revision %d wrote %s=%q", kvString(kv), kv.ModRevision, w.Key, w.Value)
	}
	return nil
}
