package election

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

// testOpts are the defaults: the memory tests run on a virtual clock.
var testOpts = Options{}

func mustAcquire(t *testing.T, c *Candidate) *Term {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Lease(ctx); err != nil {
		t.Fatalf("%s: Lease: %v", c.Name(), err)
	}
	term, err := c.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("%s: TryAcquire: %v", c.Name(), err)
	}
	return term
}

func TestTryAcquireAndCurrent(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	b := env.candidate(t, env.store(t, time.Second), "b", testOpts)
	ctx := context.Background()
	ta := mustAcquire(t, a)
	if again, err := a.TryAcquire(ctx); err != nil || again != ta {
		t.Fatalf("second TryAcquire by the holder = %v, %v; want the same term", again, err)
	}
	if _, err := b.Lease(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := b.TryAcquire(ctx)
	if !errors.Is(err, ErrLeaderExists) || !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("TryAcquire by b = %v, want ErrLeaderExists wrapping dcs.ErrConflict", err)
	}
	obs, err := Current(ctx, b.store)
	if err != nil {
		t.Fatal(err)
	}
	l := obs.Leader
	if l == nil || l.Name != "a" || l.Revision != ta.Token() || l.Lease != ta.Leader().Lease {
		t.Fatalf("Current = %v, want a's term %+v", obs, ta.Leader())
	}
	lease, _ := a.Lease(ctx)
	if lease != ta.Leader().Lease {
		t.Fatalf("leader key bound to lease %d, candidate lease %d: want one lease per candidate", ta.Leader().Lease, lease)
	}
	if !ta.Valid(env.clk.Now()) || ta.Err() != nil {
		t.Fatal("fresh term not valid")
	}
	if got, want := ta.Deadline().Sub(env.clk.Now()), testOpts.WithDefaults().TTL-testOpts.WithDefaults().Margin; got != want {
		t.Fatalf("deadline in %v, want TTL-Margin = %v (virtual clock, no time passed)", got, want)
	}
	if got := a.LeaseDeadline(); !got.Equal(ta.Deadline()) {
		t.Fatalf("LeaseDeadline %v, want the fresh term's deadline %v", got, ta.Deadline())
	}
}

func TestKeepAliveExtendsDeadline(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	term := mustAcquire(t, a)
	o := a.Options()
	first := term.Deadline()
	// Run for three TTLs: keepalives must carry the term all along.
	end := env.clk.Now().Add(3 * o.TTL)
	env.advanceUntil(t, 50*time.Millisecond, 4*o.TTL, func() bool { return !env.clk.Now().Before(end) }, "three TTLs")
	if !term.Valid(env.clk.Now()) {
		t.Fatalf("healthy holder lost its term: %v", term.Err())
	}
	if !term.Deadline().After(first) {
		t.Fatal("deadline did not move")
	}
	if lag := term.Deadline().Sub(env.clk.Now()); lag > o.TTL-o.Margin {
		t.Fatalf("deadline %v ahead of now, more than TTL-Margin", lag)
	}
}

func TestResignHandsOverAndObserve(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	b := env.candidate(t, env.store(t, time.Second), "b", testOpts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	ta := mustAcquire(t, a)
	rec.add("a", ta)

	obs, err := Observe(ctx, env.store(t, time.Second), Options{Clock: env.clk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if o := recvObs(t, obs, nil); o.Leader == nil || o.Leader.Name != "a" {
		t.Fatalf("first observation %v, want leader a", o)
	}
	if _, err := b.Lease(ctx); err != nil {
		t.Fatal(err)
	}
	won := campaignAsync(ctx, b)
	env.clk.BlockUntil(1) // b is waiting (timers armed); no time passes from here on
	start := env.clk.Now()
	if err := ta.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	if ta.Valid(env.clk.Now()) || !errors.Is(ta.Err(), ErrResigned) || !isClosed(ta.Done()) {
		t.Fatalf("resigned term still valid (err %v)", ta.Err())
	}
	if o := recvObs(t, obs, nil); o.Leader != nil {
		t.Fatalf("after resign observed %v, want no leader", o)
	}
	var tb *Term
	settle(t, func() bool {
		select {
		case tb = <-won:
			return true
		default:
			return false
		}
	}, "b acquires after resign")
	if tb == nil {
		t.Fatal("b's campaign failed")
	}
	rec.add("b", tb)
	t.Logf("hand-over after resign took %v of virtual time (watch-driven, no timer needed)", tb.Acquired().Sub(start))
	if o := recvObs(t, obs, nil); o.Leader == nil || o.Leader.Name != "b" || o.Leader.Revision != tb.Token() {
		t.Fatalf("observed %v, want b", o)
	}
	// Resign is retry-safe: again on the old term is a no-op that must not
	// delete b's key.
	if err := ta.Resign(ctx); err != nil {
		t.Fatalf("second Resign: %v", err)
	}
	if cur, _ := Current(ctx, b.store); cur.Leader == nil || cur.Leader.Name != "b" {
		t.Fatalf("after a stale resign the leader is %v, want b", cur)
	}
	b.Close()
	rec.check(t)
}

func TestFrozenHolderLosesTerm(t *testing.T) {
	env := newMemEnv(t)
	sa := env.store(t, time.Second)
	a := env.candidate(t, sa, "a", testOpts)
	b := env.candidate(t, env.store(t, time.Second), "b", testOpts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	ta := mustAcquire(t, a)
	rec.add("a", ta)
	won := campaignAsync(ctx, b)

	a.freeze() // keepalives and a's deadline timer stop, as if the process were stopped
	var tb *Term
	env.advanceUntil(t, 50*time.Millisecond, 3*a.Options().TTL, func() bool {
		select {
		case tb = <-won:
			return true
		default:
			return false
		}
	}, "b acquires after a's lease expired")
	if tb == nil {
		t.Fatal("b's campaign failed")
	}
	rec.add("b", tb)
	// a is still frozen: its timer has not fired, yet it cannot believe it leads.
	now := env.clk.Now()
	if ta.Valid(now) {
		t.Fatal("frozen holder's term valid after its deadline")
	}
	if !ta.Deadline().Before(tb.Acquired()) {
		t.Fatalf("a's deadline %v not before b acquired %v", ta.Deadline(), tb.Acquired())
	}
	t.Logf("frozen holder: deadline %v before b acquired", tb.Acquired().Sub(ta.Deadline()))
	leader := ta.Leader()
	if _, err := sa.Put(ctx, dcs.KeyStatus, []byte(`{}`), 0, dcs.Cond{Leader: &leader}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("guarded put by the old term = %v, want dcs.ErrConflict", err)
	}
	if _, err := ta.Put(ctx, dcs.KeyStatus, []byte(`{}`), dcs.Cond{}); !errors.Is(err, dcs.ErrConflict) || !errors.Is(err, ErrTermEnded) {
		t.Fatalf("Term.Put = %v, want ErrTermEnded wrapping dcs.ErrConflict", err)
	}
	if err := ta.Delete(ctx, dcs.KeyStatus, dcs.Cond{}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Term.Delete = %v, want dcs.ErrConflict", err)
	}
	oldLease := ta.Leader().Lease
	a.thaw()
	settle(t, func() bool { return isClosed(ta.Done()) }, "a's Done after thaw")
	if !errors.Is(ta.Err(), ErrExpired) && !errors.Is(ta.Err(), dcs.ErrLeaseLost) {
		t.Fatalf("a's term ended with %v, want ErrExpired or lease lost", ta.Err())
	}
	// a's keepalive finds its lease gone and grants a new one.
	var newLease dcs.LeaseID
	env.advanceUntil(t, 50*time.Millisecond, 2*a.Options().TTL, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		newLease = a.lease
		return newLease != 0 && newLease != oldLease
	}, "a gets a new lease")
	if _, err := a.TryAcquire(ctx); !errors.Is(err, ErrLeaderExists) {
		t.Fatalf("a's TryAcquire = %v, want ErrLeaderExists", err)
	}
	b.Close()
	a.Close()
	rec.check(t)
}

func TestPartitionedHolderStepsDownFirst(t *testing.T) {
	for _, fault := range []memory.Fault{{Hang: true}, {Unavailable: true}} {
		t.Run(fmt.Sprintf("%+v", fault), func(t *testing.T) {
			env := newMemEnv(t)
			o := testOpts.WithDefaults()
			sa := env.store(t, o.RequestTimeout)
			a := env.candidate(t, sa, "a", testOpts)
			b := env.candidate(t, env.store(t, o.RequestTimeout), "b", testOpts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &recorder{}
			ta := mustAcquire(t, a)
			rec.add("a", ta)
			won := campaignAsync(ctx, b)
			sa.SetFault(fault)
			var tb *Term
			var aDoneAt time.Time
			env.advanceUntil(t, 20*time.Millisecond, 3*o.TTL, func() bool {
				if aDoneAt.IsZero() && isClosed(ta.Done()) {
					aDoneAt = env.clk.Now()
				}
				select {
				case tb = <-won:
					return true
				default:
					return false
				}
			}, "b acquires")
			if tb == nil {
				t.Fatal("b's campaign failed")
			}
			rec.add("b", tb)
			if aDoneAt.IsZero() || aDoneAt.After(tb.Acquired()) {
				t.Fatalf("a's Done seen at %v, b acquired at %v: a must step down first", aDoneAt, tb.Acquired())
			}
			t.Logf("a's deadline passed %v before b acquired (Done seen %v before)", tb.Acquired().Sub(ta.Deadline()), tb.Acquired().Sub(aDoneAt))
			if !errors.Is(ta.Err(), ErrExpired) {
				t.Fatalf("a's term ended with %v, want ErrExpired", ta.Err())
			}
			sa.SetFault(memory.Fault{})
			a.Close()
			b.Close()
			rec.check(t)
		})
	}
}

func TestGuardedWriteConflictEndsTerm(t *testing.T) {
	env := newMemEnv(t)
	s := env.store(t, time.Second)
	a := env.candidate(t, s, "a", testOpts)
	ctx := context.Background()
	ta := mustAcquire(t, a)
	if ta.Lost(fmt.Errorf("x: %w", dcs.ErrUnavailable)) {
		t.Fatal("Lost(ErrUnavailable) ended the term")
	}
	if _, err := ta.Put(ctx, dcs.KeyStatus, []byte(`{"optime":1}`), dcs.Cond{}); err != nil {
		t.Fatalf("guarded put while leading: %v", err)
	}
	// A CAS that loses on its own revision does not end the term.
	if _, err := ta.Put(ctx, dcs.KeyConfig, []byte(`{}`), dcs.Cond{ModRevision: 999}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("CAS put = %v, want conflict", err)
	}
	if !ta.Valid(env.clk.Now()) {
		t.Fatalf("a lost CAS ended the term: %v", ta.Err())
	}
	// An operator deletes the leader key: the next guarded write ends the term.
	if err := s.Delete(ctx, dcs.KeyLeader, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.Put(ctx, dcs.KeyStatus, []byte(`{"optime":2}`), dcs.Cond{}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("guarded put after the key was deleted = %v, want conflict", err)
	}
	if !isClosed(ta.Done()) || !errors.Is(ta.Err(), dcs.ErrConflict) || ta.Valid(env.clk.Now()) {
		t.Fatalf("term not ended by the conflict: err %v", ta.Err())
	}
}

func TestResignUnavailableIsRetrySafe(t *testing.T) {
	env := newMemEnv(t)
	o := testOpts.WithDefaults()
	sa := env.store(t, o.RequestTimeout)
	a := env.candidate(t, sa, "a", testOpts)
	ctx := context.Background()
	ta := mustAcquire(t, a)
	oldLease := ta.Leader().Lease
	sa.SetFault(memory.Fault{Unavailable: true})
	err := ta.Resign(ctx)
	if !errors.Is(err, dcs.ErrUnavailable) {
		t.Fatalf("Resign while unavailable = %v, want dcs.ErrUnavailable", err)
	}
	if ta.Valid(env.clk.Now()) || !errors.Is(ta.Err(), ErrResigned) {
		t.Fatalf("term not ended locally by a failed resign: %v", ta.Err())
	}
	sa.SetFault(memory.Fault{})
	if err := ta.Resign(ctx); err != nil {
		t.Fatalf("retried Resign: %v", err)
	}
	if cur, _ := Current(ctx, sa); cur.Leader != nil {
		t.Fatalf("leader after resign: %v", cur)
	}
	// The abandoned lease is replaced.
	var id dcs.LeaseID
	env.advanceUntil(t, 50*time.Millisecond, 2*o.TTL, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		id = a.lease
		return id != 0 && id != oldLease
	}, "new lease after abandoned one")
	tb := mustAcquire(t, a)
	if tb.Token() <= ta.Token() {
		t.Fatalf("new token %d not above old %d", tb.Token(), ta.Token())
	}
}

func TestExpiredTermIsAdoptedNotRevived(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	o := a.Options()
	ctx := context.Background()
	ta := mustAcquire(t, a)
	// Stop a for longer than TTL-Margin but shorter than TTL: the local
	// deadline passes while the store still keeps the lease.
	a.freeze()
	end := ta.Deadline().Add(o.Margin / 2)
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool { return !env.clk.Now().Before(end) }, "past the deadline")
	if ta.Valid(env.clk.Now()) {
		t.Fatal("term valid past its deadline")
	}
	a.thaw()
	settle(t, func() bool { return isClosed(ta.Done()) }, "Done after deadline")
	// The next keepalive succeeds, but the ended term stays ended.
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
		_, err := a.TryAcquire(ctx)
		return err == nil
	}, "re-acquire")
	tb := a.Term()
	if tb == nil || tb == ta || !errors.Is(ta.Err(), ErrExpired) {
		t.Fatalf("want a new term and the old one expired; got %v / %v", tb, ta.Err())
	}
	if tb.Token() != ta.Token() || tb.Leader().Lease != ta.Leader().Lease {
		t.Fatalf("adopted term %+v, want the same key %+v", tb.Leader(), ta.Leader())
	}
	if !tb.Acquired().After(ta.Deadline()) && !tb.Acquired().Equal(ta.Deadline()) {
		t.Fatal("adopted term starts before the old deadline")
	}
	// A late Resign of the old term must not delete the key the new one holds.
	if err := ta.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := Current(ctx, a.store); cur.Leader == nil || cur.Leader.Revision != tb.Token() || !tb.Valid(env.clk.Now()) {
		t.Fatalf("stale resign removed the adopted key: %v", cur)
	}
}

func TestObserveResyncAfterFault(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	b := env.candidate(t, env.store(t, time.Second), "b", testOpts)
	so := env.cl.Store(dcs.Prefix("", testScope), memory.StoreOptions{RequestTimeout: time.Second, WatchBuffer: 1})
	t.Cleanup(func() { so.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs, err := Observe(ctx, so, Options{Clock: env.clk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if o := recvObs(t, obs, nil); o.Leader != nil {
		t.Fatalf("observed %v, want no leader", o)
	}
	ta := mustAcquire(t, a)
	if o := recvObs(t, obs, nil); o.Leader == nil || o.Leader.Name != "a" {
		t.Fatalf("observed %v, want a", o)
	}
	so.SetFault(memory.Fault{Unavailable: true})
	if err := ta.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	tb := mustAcquire(t, b)
	for i := range 5 { // overflow the observer's watch buffer
		if _, err := tb.Put(ctx, dcs.KeyStatus, fmt.Appendf(nil, `{"optime":%d}`, i), dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	so.SetFault(memory.Fault{})
	for {
		o := recvObs(t, obs, func() { env.clk.Advance(100 * time.Millisecond) })
		if o.Leader != nil && o.Leader.Name == "b" {
			if o.Leader.Revision != tb.Token() {
				t.Fatalf("observed b with token %d, want %d", o.Leader.Revision, tb.Token())
			}
			break
		}
	}
}

func TestTermContextAndClose(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	ta := mustAcquire(t, a)
	ctx, cancel := ta.Context(context.Background())
	defer cancel()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), ErrClosed) || !errors.Is(ta.Err(), ErrClosed) {
		t.Fatalf("cause %v, term err %v; want ErrClosed", context.Cause(ctx), ta.Err())
	}
	if _, err := a.TryAcquire(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryAcquire after Close = %v", err)
	}
	if _, err := a.Campaign(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Campaign after Close = %v", err)
	}
	if _, err := a.Lease(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lease after Close = %v", err)
	}
}

func TestObserveReportsExpiry(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ta := mustAcquire(t, a)
	obs, err := Observe(ctx, env.store(t, time.Second), Options{Clock: env.clk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if o := recvObs(t, obs, nil); o.Leader == nil || o.Leader.Revision != ta.Token() {
		t.Fatalf("observed %v, want a", o)
	}
	a.freeze()
	o := recvObs(t, obs, func() { env.clk.Advance(50 * time.Millisecond) })
	if o.Leader != nil {
		t.Fatalf("observed %v, want no leader after expiry", o)
	}
	if !ta.Deadline().Before(env.clk.Now()) {
		t.Fatal("expiry observed before the holder's deadline")
	}
	a.thaw()
}

// refusingStore fails every Put with an error retrying cannot fix.
type refusingStore struct{ dcs.Store }

var errPermission = errors.New("permission denied")

func (refusingStore) Put(context.Context, string, []byte, dcs.LeaseID, dcs.Cond) (int64, error) {
	return 0, errPermission
}

func TestCampaignReturnsPermanentErrors(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, refusingStore{env.store(t, time.Second)}, "a", testOpts)
	if _, err := a.Campaign(context.Background()); !errors.Is(err, errPermission) {
		t.Fatalf("Campaign = %v, want the permanent error", err)
	}
}

// TestHolderRidesOutDCSOutage: with the default timings, a holder whose
// store fails (fast or by hanging) for the whole OutageTolerance(600ms) —
// more than three keepalive intervals — renews its lease once the store
// answers and its deadline never comes within the failover package's
// 600 ms demote lead. A longer outage does end the term.
func TestHolderRidesOutDCSOutage(t *testing.T) {
	const lead = 600 * time.Millisecond
	o := testOpts.WithDefaults()
	tol := o.OutageTolerance(lead)
	if tol < 3*o.KeepAliveInterval {
		t.Fatalf("tolerance %v below three keepalive intervals", tol)
	}
	tests := []struct {
		name    string
		fault   memory.Fault
		outage  time.Duration
		survive bool
	}{
		{"refused for the tolerance", memory.Fault{Unavailable: true}, tol, true},
		{"hanging for the tolerance", memory.Fault{Hang: true}, tol, true},
		{"three intervals, hanging", memory.Fault{Hang: true}, 3 * o.KeepAliveInterval, true},
		{"past the deadline", memory.Fault{Hang: true}, o.TTL - o.Margin + o.KeepAliveInterval, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newMemEnv(t)
			s := env.store(t, o.RequestTimeout)
			a := env.candidate(t, s, "a", testOpts)
			term := mustAcquire(t, a)
			// Cut the store off right after a renewal was sent: the worst
			// phase, the outage counts from the last good send.
			before := term.Deadline()
			env.advanceUntil(t, 10*time.Millisecond, 2*o.KeepAliveInterval, func() bool { return term.Deadline().After(before) }, "a renewal")
			s.SetFault(tt.fault)
			sent := term.Deadline().Add(-(o.TTL - o.Margin))
			end := sent.Add(tt.outage)
			minLeft := time.Duration(1<<62 - 1)
			step := func() bool {
				if left := term.Deadline().Sub(env.clk.Now()); left < minLeft {
					minLeft = left
				}
				return !env.clk.Now().Before(end)
			}
			env.advanceUntil(t, 10*time.Millisecond, tt.outage+time.Second, step, "outage end")
			s.SetFault(memory.Fault{})
			env.advanceUntil(t, 10*time.Millisecond, 3*o.TTL, func() bool {
				step()
				return term.Deadline().Sub(env.clk.Now()) > o.TTL-o.Margin-o.KeepAliveInterval || !term.Valid(env.clk.Now())
			}, "renewed or ended")
			survived := term.Valid(env.clk.Now()) && minLeft > lead
			t.Logf("outage %v: closest approach to the deadline %v (lead %v), survived=%v", tt.outage, minLeft, lead, survived)
			if survived != tt.survive {
				t.Fatalf("survived = %v, want %v (closest approach %v, term err %v)", survived, tt.survive, minLeft, term.Err())
			}
		})
	}
}
