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

// testWatchOrder watches while writing: every change arrives once, in
// order, after the requested revision, from another client too.
func testWatchOrder(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)
	mustPut(t, ctx, s, "history", "[]", 0, dcs.Cond{})
	from := mustGet(t, ctx, s).Revision
	ws := startWatch(t, ctx, s, from)
	wo := startWatch(t, ctx, other, from)
	ops, revs := writeSequence(t, ctx, s)
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
	mustPut(t, ctx, s, "history", "[]", 0, dcs.Cond{})
	from := mustGet(t, ctx, s).Revision
	ops, revs := writeSequence(t, ctx, s)

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
