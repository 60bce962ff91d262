package failover_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// shortSettings are the defaults with a 4 s ttl, the shortest the config
// key accepts, so the fence tests take seconds.
func shortSettings() failover.Settings {
	s := failover.DefaultSettings()
	s.TTL = 4 * time.Second
	s.LoopWait = 500 * time.Millisecond
	return s
}

// TestFencedPrimaryGivesUpKey: a primary cut off from the DCS for longer
// than it can ride out stops answering as leader and demotes while its key
// still exists (before any other node could take it), and does not keep
// the leader key: the key of the old term is gone once the DCS is back, so
// the race can run (DESIGN §3 invariant 7).
func TestFencedPrimaryGivesUpKey(t *testing.T) {
	mc, store := memStore(t)
	ms := store.(*memory.Store)
	observer := mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
	inst := newFakePG()
	var events eventLog
	o := baseOptions(store, inst)
	o.Settings = shortSettings()
	o.OnEvent = events.add
	c, _ := runController(t, o)
	waitLeading(t, c)
	term := c.State().Term
	ms.SetFault(memory.Fault{Hang: true})
	var flippedWithKey, demotedWithKey bool
	testutil.Eventually(t, 3*o.Settings.TTL, func() error {
		flipped := !c.State().IsLeader
		demoted := slices.Contains(inst.Calls(), "demote:immediate")
		cl := read(t, observer)
		held := cl.Leader != nil && cl.Leader.Revision == term
		if flipped && !flippedWithKey {
			flippedWithKey = held
		}
		if demoted && !demotedWithKey {
			demotedWithKey = held
		}
		if !flipped || !demoted {
			return fmt.Errorf("flipped %v demoted %v", flipped, demoted)
		}
		return nil
	}, "fenced")
	if !flippedWithKey || !demotedWithKey {
		t.Fatalf("fence came after the key could expire: health flipped while key held %v, demoted while key held %v", flippedWithKey, demotedWithKey)
	}
	ms.SetFault(memory.Fault{})
	testutil.Eventually(t, 3*o.Settings.TTL, func() error {
		cl := read(t, observer)
		if cl.Leader != nil && cl.Leader.Revision == term {
			return fmt.Errorf("leader key of the fenced term %d still there", term)
		}
		return nil
	}, "fenced term's key gone")
	for _, want := range []failover.EventKind{failover.EventFenced, failover.EventReleased} {
		if !events.has(want) {
			t.Errorf("event %s missing from %v", want, events.kinds())
		}
	}
	// A lone node is the best candidate: it leads again, on a new term.
	waitLeading(t, c)
	if c.State().Term == term {
		t.Fatalf("leading on the fenced term %d", term)
	}
}

// TestStateChecksDeadlineAtRequestTime: leadership in the health answer is
// checked when it is asked for, not cached: with the loop wedged on a
// PostgreSQL status call (so nothing is published) and the DCS cut off,
// State turns non-leader while the term's key still exists.
func TestStateChecksDeadlineAtRequestTime(t *testing.T) {
	inst := newFakePG()
	c, observer, term, o := wedgedLeader(t, inst, inst)
	testutil.Eventually(t, 3*o.Settings.TTL, func() error {
		if c.State().IsLeader {
			return errors.New("still leader")
		}
		return nil
	}, "non-leader")
	if cl := read(t, observer); cl.Leader == nil || cl.Leader.Revision != term {
		t.Fatalf("State turned non-leader only after the key expired: %+v", cl.Leader)
	}
	if s := c.State(); s.Term != 0 {
		t.Errorf("non-leader state still carries term %d", s.Term)
	}
}

// TestHandOverKeepsLeaseWhenStopFails: on exit, a leader whose PostgreSQL
// could not be stopped does not resign: the key stays until the lease
// expires, so no replica is promoted while the old primary may still run.
func TestHandOverKeepsLeaseWhenStopFails(t *testing.T) {
	_, store := memStore(t)
	inst := newFakePG()
	o := baseOptions(store, inst)
	o.Settings = shortSettings()
	c, stop := runController(t, o)
	waitLeading(t, c)
	inst.setStopErr(errors.New("injected: pg_ctl stop timed out"))
	stop()
	cl := read(t, store)
	if cl.Leader == nil || cl.Leader.Name != "n1" {
		t.Fatalf("leader key resigned although the stop failed: %+v", cl.Leader)
	}
	if !slices.Contains(inst.Calls(), "stop:fast") {
		t.Fatalf("no stop attempted: %v", inst.Calls())
	}
	// The key is bound to the lease, which nobody renews any more.
	testutil.Eventually(t, 3*o.Settings.TTL, func() error {
		if cl := read(t, store); cl.Leader != nil {
			return fmt.Errorf("leader key still there")
		}
		return nil
	}, "key expires with the lease")
}

// eventLog records the kinds of the Controller's events.
type eventLog struct {
	mu   sync.Mutex
	seen []failover.EventKind
}

func (l *eventLog) add(e failover.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, e.Kind)
}

func (l *eventLog) kinds() []failover.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

func (l *eventLog) has(k failover.EventKind) bool { return slices.Contains(l.kinds(), k) }

// fencerPG is fakePG with pg.Fencer: Fence stops the server without
// taking the fake's operation path (it never waits on a stalled Status).
type fencerPG struct {
	*fakePG
	fenced chan struct{}
}

func (f *fencerPG) Fence(context.Context) error {
	select {
	case <-f.fenced:
	default:
		close(f.fenced)
	}
	return nil
}

// TestFenceDoesNotWaitBehindPostgreSQL: with the loop wedged on a status
// query that never returns and the DCS cut off, the guard still fences
// through pg.Fencer before the term's key could expire.
func TestFenceDoesNotWaitBehindPostgreSQL(t *testing.T) {
	inst := &fencerPG{fakePG: newFakePG(), fenced: make(chan struct{})}
	_, observer, term, o := wedgedLeader(t, inst, inst.fakePG)
	select {
	case <-inst.fenced:
	case <-time.After(3 * o.Settings.TTL):
		t.Fatal("not fenced while a status query was wedged")
	}
	if cl := read(t, observer); cl.Leader == nil || cl.Leader.Revision != term {
		t.Fatalf("fenced only after the key could expire: %+v", cl.Leader)
	}
}

// wedgedLeader runs a Controller over inst until it leads, then wedges its
// loop on a status query that never returns and cuts it off from the DCS
// (both undone by t.Cleanup). It returns the Controller, a healthy store
// handle to observe the keys, the term it won and its options.
func wedgedLeader(t *testing.T, inst pg.Instance, fake *fakePG) (*failover.Controller, dcs.Store, int64, failover.ControllerOptions) {
	t.Helper()
	mc, store := memStore(t)
	ms := store.(*memory.Store)
	observer := mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
	o := baseOptions(store, fake)
	o.Instance = inst
	o.Settings = shortSettings()
	c, _ := runController(t, o)
	waitLeading(t, c)
	term := c.State().Term
	release := fake.stallStatus()
	t.Cleanup(release)
	ms.SetFault(memory.Fault{Hang: true})
	t.Cleanup(func() { ms.SetFault(memory.Fault{}) })
	return c, observer, term, o
}

// armingPG is fakePG with pg.DeadlineFencer, recording the deadlines armed
// and the disarms.
type armingPG struct {
	*fakePG
	mu       sync.Mutex
	armed    []time.Time
	disarmed int
}

func (f *armingPG) ArmFence(deadline time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = append(f.armed, deadline)
	return nil
}

func (f *armingPG) DisarmFence() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disarmed++
	return nil
}

func (f *armingPG) counts() (armed int, last time.Time, disarmed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.armed) > 0 {
		last = f.armed[len(f.armed)-1]
	}
	return len(f.armed), last, f.disarmed
}

// TestControllerArmsOutOfAgentFence: a leader keeps the Instance's
// out-of-agent fence armed with its moving term deadline and disarms it
// only once its server is confirmed demoted; an agent that dies abandoning
// its term (ExitAbandon) leaves it armed, so the keeper stops the primary.
func TestControllerArmsOutOfAgentFence(t *testing.T) {
	_, store := memStore(t)
	ms := store.(*memory.Store)
	inst := &armingPG{fakePG: newFakePG()}
	o := baseOptions(store, inst.fakePG)
	o.Instance = inst
	o.Settings = shortSettings()
	c, _ := runController(t, o)
	waitLeading(t, c)
	var first time.Time
	testutil.Eventually(t, 10*time.Second, func() error {
		n, last, _ := inst.counts()
		if first.IsZero() && n > 0 {
			first = last
		}
		if n < 3 || !last.After(first) {
			return fmt.Errorf("armed %d times, deadline %v not moving", n, last)
		}
		if d := time.Until(last); d <= 0 || d > o.Settings.TTL {
			return fmt.Errorf("armed deadline %v from now, want within ttl", d)
		}
		return nil
	}, "re-armed with the moving deadline")
	if _, _, disarmed := inst.counts(); disarmed != 0 {
		t.Fatalf("disarmed %d times while leading", disarmed)
	}
	ms.SetFault(memory.Fault{Hang: true})
	defer ms.SetFault(memory.Fault{})
	testutil.Eventually(t, 3*o.Settings.TTL, func() error {
		if _, _, disarmed := inst.counts(); disarmed == 0 {
			return errors.New("not disarmed after the fence")
		}
		return nil
	}, "disarmed once fenced")
	if !slices.Contains(inst.Calls(), "demote:immediate") {
		t.Fatalf("disarmed without a demote: %v", inst.Calls())
	}
}

func TestAbandonedTermLeavesFenceArmed(t *testing.T) {
	_, store := memStore(t)
	inst := &armingPG{fakePG: newFakePG()}
	o := baseOptions(store, inst.fakePG)
	o.Instance = inst
	o.Settings = shortSettings()
	o.ExitMode = failover.ExitAbandon
	c, stop := runController(t, o)
	waitLeading(t, c)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n, _, _ := inst.counts(); n == 0 {
			return errors.New("not armed")
		}
		return nil
	}, "armed")
	stop()
	if _, _, disarmed := inst.counts(); disarmed != 0 {
		t.Fatalf("an abandoning exit disarmed the fence (%d)", disarmed)
	}
}
