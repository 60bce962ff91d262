package dcstest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/pgha/pgha/dcs"
)

const (
	concurrentWorkers    = 4
	concurrentIncrements = 15
)

// testConcurrent increments a counter by compare-and-swap from several
// clients and goroutines at once, with other writes, reads and a watch in
// flight: no increment may be lost or doubled, and the watch must see every
// value in order (without history: increasing values, agreeing with the
// writes, converging to Get). Run with -race it also checks the backend for
// data races.
func testConcurrent(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	from := mustPut(t, ctx, s, "counter", "0", 0, dcs.Cond{Absent: true})
	writes := newJournal()
	writes.add(from, "counter", "0")
	var w *watchLog
	var seen *view
	if b.NoHistory {
		base := mustGet(t, ctx, s)
		seen = newView(base)
		seen.writes, seen.deletable, seen.check = writes, map[string]bool{}, counterIncreases()
		for i := range concurrentWorkers {
			seen.deletable[dcs.MemberKey(fmt.Sprintf("w%d", i))] = true
		}
		w = startWatch(t, ctx, s, base.Revision)
	} else {
		w = startWatch(t, ctx, s, from)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2*concurrentWorkers)
	for i := range concurrentWorkers {
		c := s
		if i%2 == 1 {
			c = b.NewStoreOn(t, s)
		}
		lease := mustGrant(t, ctx, c, longTTL)
		wg.Add(2)
		go func() { // counter increments
			defer wg.Done()
			for n := 0; n < concurrentIncrements; {
				snap, err := call(ctx, c.Get)
				if err != nil {
					errs <- err
					return
				}
				kv, ok := find(snap, "counter")
				if !ok {
					errs <- errors.New("counter vanished")
					return
				}
				v, err := strconv.Atoi(string(kv.Value))
				if err != nil {
					errs <- err
					return
				}
				value := strconv.Itoa(v + 1)
				rev, err := put(ctx, c, "counter", value, 0, dcs.Cond{ModRevision: kv.ModRevision})
				switch {
				case err == nil:
					writes.add(rev, "counter", value)
					n++
				case !errors.Is(err, dcs.ErrConflict):
					errs <- err
					return
				}
			}
		}()
		go func() { // unrelated writes with a lease and keepalives
			defer wg.Done()
			key := dcs.MemberKey(fmt.Sprintf("w%d", i))
			for n := range concurrentIncrements {
				rev, err := put(ctx, c, key, strconv.Itoa(n), lease, dcs.Cond{})
				if err != nil {
					errs <- err
					return
				}
				writes.add(rev, key, strconv.Itoa(n))
				if err := keepAlive(ctx, c, lease); err != nil {
					errs <- err
					return
				}
			}
			if err := revoke(ctx, c, lease); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	if t.Failed() {
		return
	}
	total := concurrentWorkers * concurrentIncrements
	if kv := mustKV(t, ctx, b.NewStoreOn(t, s), "counter"); string(kv.Value) != strconv.Itoa(total) {
		t.Fatalf("counter = %s after %d increments", kv.Value, total)
	}
	if b.NoHistory {
		w.converge(seen, mustGet(t, ctx, s))
		return
	}
	// Every member key was written concurrentIncrements times then deleted.
	want := total + concurrentWorkers*(concurrentIncrements+1)
	next := 1
	last := from
	for _, ev := range w.next(want) {
		if ev.KV.ModRevision < last {
			t.Fatalf("watch revision went back from %d to %d", last, ev.KV.ModRevision)
		}
		last = ev.KV.ModRevision
		if ev.KV.Key != "counter" {
			continue
		}
		if string(ev.KV.Value) != strconv.Itoa(next) {
			t.Fatalf("counter event %q, want %d", ev.KV.Value, next)
		}
		next++
	}
	if next != total+1 {
		t.Fatalf("watch saw %d counter increments, want %d", next-1, total)
	}
}

// counterIncreases returns a view check that the counter only goes up: a
// new write of it carries a higher value than the last one delivered.
func counterIncreases() func(dcs.KV) error {
	var last dcs.KV
	return func(kv dcs.KV) error {
		if kv.Key != "counter" || kv.ModRevision == last.ModRevision {
			return nil
		}
		n, err := strconv.Atoi(string(kv.Value))
		if err != nil {
			return fmt.Errorf("counter %q: %w", kv.Value, err)
		}
		if prev, _ := strconv.Atoi(string(last.Value)); last.Value != nil && (n <= prev || kv.ModRevision < last.ModRevision) {
			return fmt.Errorf("counter went from %s to %s", kvString(last), kvString(kv))
		}
		last = kv
		return nil
	}
}
