package dcstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// disruptDeadline bounds the recovery after Backend.Disrupt.
const disruptDeadline = 60 * time.Second

// testDisrupt calls Backend.Disrupt and checks that reads, writes, leases
// and a watch opened before the disruption work again within a deadline.
// The watch may resume with events or with a resync snapshot; either way it
// must deliver the write made after the disruption.
func testDisrupt(t *testing.T, b Backend) {
	if b.Disrupt == nil {
		t.Log("backend has no disruption; nothing to check")
		return
	}
	ctx := testCtx(t)
	s := b.NewStore(t)
	before := mustPut(t, ctx, s, dcs.KeyConfig, "before", 0, dcs.Cond{})
	lease := mustGrant(t, ctx, s, longTTL)
	mustPut(t, ctx, s, dcs.MemberKey("a"), "{}", lease, dcs.Cond{})
	wctx, cancel := context.WithCancel(ctx)
	ch := s.Watch(wctx, before)
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})

	b.Disrupt(t)

	var after int64
	eventually(t, disruptDeadline, "a write after the disruption", func() (bool, string) {
		var err error
		after, err = put(ctx, s, dcs.KeyConfig, "after", 0, dcs.Cond{})
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, disruptDeadline, "a read after the disruption", func() (bool, string) {
		snap, err := call(ctx, s.Get)
		if err != nil {
			return false, err.Error()
		}
		kv, ok := find(snap, dcs.KeyConfig)
		return ok && string(kv.Value) == "after" && snap.Revision >= after, fmt.Sprintf("config %+v", kv)
	})
	eventually(t, disruptDeadline, "a keepalive after the disruption", func() (bool, string) {
		err := keepAlive(ctx, s, lease)
		return err == nil, fmt.Sprint(err)
	})
	mustKV(t, ctx, s, dcs.MemberKey("a"))
	eventually(t, disruptDeadline, "a new lease after the disruption", func() (bool, string) {
		_, err := call(ctx, func(ctx context.Context) (dcs.LeaseID, error) { return s.Grant(ctx, b.TTL) })
		return err == nil, fmt.Sprint(err)
	})

	timer := time.NewTimer(disruptDeadline)
	defer timer.Stop()
	for {
		select {
		case resp, ok := <-ch:
			if !ok {
				t.Fatal("watch closed by the disruption")
			}
			if resp.Snapshot != nil {
				if kv, ok := find(*resp.Snapshot, dcs.KeyConfig); ok && string(kv.Value) == "after" {
					return
				}
			}
			for _, ev := range resp.Events {
				if ev.KV.Key == dcs.KeyConfig && string(ev.KV.Value) == "after" {
					return
				}
			}
		case <-timer.C:
			t.Fatal("watch opened before the disruption never delivered the write made after it")
		}
	}
}
