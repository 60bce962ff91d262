package dcstest

import (
	"context"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// op is one expected watch event.
type op struct {
	typ   dcs.EventType
	key   string
	value string
}

// writeSequence performs a fixed series of single-key changes (puts,
// deletes, a lease revocation, a leader acquire and guarded release) and
// returns the events they must produce with the revision of each (0 for
// deletes, whose revision the Store API does not return; the other revisions
// bound them).
func writeSequence(t *testing.T, ctx context.Context, s dcs.Store) ([]op, []int64) {
	t.Helper()
	var ops []op
	var revs []int64
	record := func(o op, rev int64) {
		ops = append(ops, o)
		revs = append(revs, rev)
	}
	for _, o := range []op{
		{dcs.EventPut, "config", `{"ttl":30}`},
		{dcs.EventPut, "initialize", "42"},
		{dcs.EventPut, "config", `{"ttl":20}`},
	} {
		record(o, mustPut(t, ctx, s, o.key, o.value, 0, dcs.Cond{}))
	}
	if err := del(ctx, s, "initialize", dcs.Cond{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	record(op{dcs.EventDelete, "initialize", ""}, 0)

	id := mustGrant(t, ctx, s, longTTL)
	record(op{dcs.EventPut, "members/a", "{}"}, mustPut(t, ctx, s, "members/a", "{}", id, dcs.Cond{}))
	if err := revoke(ctx, s, id); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	record(op{dcs.EventDelete, "members/a", ""}, 0)

	id2 := mustGrant(t, ctx, s, longTTL)
	lr := mustPut(t, ctx, s, dcs.KeyLeader, "b", id2, dcs.Cond{Absent: true})
	record(op{dcs.EventPut, dcs.KeyLeader, "b"}, lr)
	if err := del(ctx, s, dcs.KeyLeader, dcs.Cond{Leader: term("b", lr)}); err != nil {
		t.Fatalf("guarded release: %v", err)
	}
	record(op{dcs.EventDelete, dcs.KeyLeader, ""}, 0)
	if err := revoke(ctx, s, id2); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	return ops, revs
}

// checkEvents compares events with the expected operations: same order,
// types, keys, values and revisions, revisions strictly increasing and
// above from.
func checkEvents(t *testing.T, got []dcs.Event, want []op, revs []int64, from int64) {
	t.Helper()
	last := from
	for i, ev := range got {
		w := want[i]
		if ev.Type != w.typ || ev.KV.Key != w.key || (w.typ == dcs.EventPut && string(ev.KV.Value) != w.value) {
			t.Fatalf("event %d = %s, want %v %s=%q; all: %s", i, fmtEvents(got[i:i+1]), w.typ, w.key, w.value, fmtEvents(got))
		}
		if ev.KV.ModRevision <= last {
			t.Fatalf("event %d revision %d not above %d: %s", i, ev.KV.ModRevision, last, fmtEvents(got))
		}
		if revs[i] != 0 && ev.KV.ModRevision != revs[i] {
			t.Fatalf("event %d revision %d, the write was at %d: %s", i, ev.KV.ModRevision, revs[i], fmtEvents(got))
		}
		if ev.Type == dcs.EventDelete && len(ev.KV.Value) != 0 {
			t.Errorf("delete event %d carries a value %q", i, ev.KV.Value)
		}
		last = ev.KV.ModRevision
	}
}

// sequenceModel returns what a NoHistory watch of writeSequence is checked
// against: every put (the "history" put at hist and the sequence's) and the
// keys the sequence deletes.
func sequenceModel(hist int64, ops []op, revs []int64) (*journal, map[string]bool) {
	writes, deletable := newJournal(), map[string]bool{}
	writes.add(hist, "history", "[]")
	for i, o := range ops {
		if o.typ == dcs.EventPut {
			writes.add(revs[i], o.key, o.value)
		} else {
			deletable[o.key] = true
		}
	}
	return writes, deletable
}

// stateAfter returns base with ops applied, at the revision of the last of
// them (which must be a put). Leases are not known: zero.
func stateAfter(base dcs.Snapshot, ops []op, revs []int64) dcs.Snapshot {
	kvs := map[string]dcs.KV{}
	for _, kv := range base.KVs {
		kvs[kv.Key] = kv
	}
	for i, o := range ops {
		if o.typ == dcs.EventDelete {
			delete(kvs, o.key)
			continue
		}
		kv, ok := kvs[o.key]
		if !ok {
			kv = dcs.KV{Key: o.key, CreateRevision: revs[i]}
		}
		kv.Value, kv.ModRevision, kv.Lease = []byte(o.value), revs[i], 0
		kvs[o.key] = kv
	}
	snap := dcs.Snapshot{Revision: revs[len(revs)-1]}
	for _, kv := range kvs {
		snap.KVs = append(snap.KVs, kv)
	}
	return snap
}

// newSequenceView returns a view from base checked against the model.
func newSequenceView(base dcs.Snapshot, writes *journal, deletable map[string]bool) *view {
	v := newView(base)
	v.writes, v.deletable = writes, deletable
	return v
}

// testWatchOrder watches while writing: every change arrives once, in
// order, after the requested revision, from another client too.
func testWatchOrder(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)
	hist := mustPut(t, ctx, s, "history", "[]", 0, dcs.Cond{})
	base := mustGet(t, ctx, s)
	from := base.Revision
	ws := startWatch(t, ctx, s, from)
	wo := startWatch(t, ctx, other, from)
	ops, revs := writeSequence(t, ctx, s)
	if b.NoHistory {
		// Changes may be collapsed: the views must converge to Get, through
		// deliveries that agree with the writes.
		writes, deletable := sequenceModel(hist, ops, revs)
		vs, vo := newSequenceView(base, writes, deletable), newSequenceView(base, writes, deletable)
		final := mustGet(t, ctx, s)
		ws.converge(vs, final)
		wo.converge(vo, final)
		r := mustPut(t, ctx, other, "status", `{"optime":1}`, 0, dcs.Cond{})
		writes.add(r, "status", `{"optime":1}`)
		ws.converge(vs, mustGet(t, ctx, s))
		return
	}
	checkEvents(t, ws.next(len(ops)), ops, revs, from)
	checkEvents(t, wo.next(len(ops)), ops, revs, from)

	// The watch goes on delivering later changes.
	r := mustPut(t, ctx, other, "status", `{"optime":1}`, 0, dcs.Cond{})
	checkEvents(t, ws.next(1), []op{{dcs.EventPut, "status", `{"optime":1}`}}, []int64{r}, revs[len(revs)-2])
}

// testWatchReplay starts watches after the writes, from old revisions:
// they replay exactly the changes after the requested revision.
func testWatchReplay(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	hist := mustPut(t, ctx, s, "history", "[]", 0, dcs.Cond{})
	base := mustGet(t, ctx, s)
	from := base.Revision
	ops, revs := writeSequence(t, ctx, s)
	if b.NoHistory {
		testWatchResync(t, ctx, b, s, base, hist, ops, revs)
		return
	}

	checkEvents(t, startWatch(t, ctx, s, from).next(len(ops)), ops, revs, from)
	mid := len(ops) / 2
	for revs[mid-1] == 0 { // resume after a write whose revision is known
		mid++
	}
	checkEvents(t, startWatch(t, ctx, b.NewStoreOn(t, s), revs[mid-1]).next(len(ops)-mid), ops[mid:], revs[mid:], revs[mid-1])

	// A watch from the current revision sees only what comes next.
	w := startWatch(t, ctx, s, mustGet(t, ctx, s).Revision)
	r := mustPut(t, ctx, s, "failover", "{}", 0, dcs.Cond{})
	checkEvents(t, w.next(1), []op{{dcs.EventPut, "failover", "{}"}}, []int64{r}, revs[len(revs)-2])
}

// testWatchResync is testWatchReplay for a backend without history: a
// watch from a past revision may start with a snapshot instead of the
// changes since then, and must converge to Get.
func testWatchResync(t *testing.T, ctx context.Context, b Backend, s dcs.Store, base dcs.Snapshot, hist int64, ops []op, revs []int64) {
	writes, deletable := sequenceModel(hist, ops, revs)
	final := mustGet(t, ctx, s)
	startWatch(t, ctx, s, base.Revision).converge(newSequenceView(base, writes, deletable), final)

	mid := len(ops) / 2
	for revs[mid-1] == 0 { // resume after a write whose revision is known
		mid++
	}
	at := stateAfter(base, ops[:mid], revs[:mid])
	startWatch(t, ctx, b.NewStoreOn(t, s), at.Revision).converge(newSequenceView(at, writes, deletable), final)

	// A watch from the current revision follows what comes next.
	v := newSequenceView(final, writes, deletable)
	w := startWatch(t, ctx, s, final.Revision)
	r := mustPut(t, ctx, s, "failover", "{}", 0, dcs.Cond{})
	writes.add(r, "failover", "{}")
	w.converge(v, mustGet(t, ctx, s))
}
