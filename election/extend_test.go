package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

// extendedThroughOutage acquires a term for "a", cuts its store off, and
// extends the term shortly before its lease deadline would end it, to
// until = now + by. It returns the candidate, its store and the term.
func extendedThroughOutage(t *testing.T, env *memEnv, by time.Duration) (*Candidate, *memory.Store, *Term) {
	t.Helper()
	o := testOpts.WithDefaults()
	s := env.store(t, o.RequestTimeout)
	a := env.candidate(t, s, "a", testOpts)
	term := mustAcquire(t, a)
	s.SetFault(memory.Fault{Unavailable: true})
	leaseDeadline := term.Deadline()
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
		return !env.clk.Now().Before(leaseDeadline.Add(-100 * time.Millisecond))
	}, "close to the lease deadline")
	until := env.clk.Now().Add(by)
	if !term.Extend(until) {
		t.Fatalf("Extend(%v) refused on a valid term (deadline %v)", until, term.Deadline())
	}
	if !term.Deadline().Equal(until) || !term.Extended() {
		t.Fatalf("after Extend: deadline %v, extended %v; want %v, true", term.Deadline(), term.Extended(), until)
	}
	return a, s, term
}

// An extended term outlives its lease deadline and the lease itself; once
// the store answers again, TryAcquire creates the key on a new lease and the
// new term supersedes the extended one.
func TestExtendedTermSurvivesLostLease(t *testing.T) {
	o := testOpts.WithDefaults()
	env := newMemEnv(t)
	a, s, term := extendedThroughOutage(t, env, 2*o.TTL)
	// Past the store's own expiry of the lease: the key is gone there.
	env.advanceUntil(t, 20*time.Millisecond, 2*o.TTL, func() bool {
		return !env.clk.Now().Before(term.Acquired().Add(o.TTL + o.KeepAliveInterval))
	}, "the lease expired in the store")
	if !term.Valid(env.clk.Now()) {
		t.Fatalf("extended term ended before its deadline: %v", term.Err())
	}
	s.SetFault(memory.Fault{})
	ctx := context.Background()
	// The keepalive learns the lease is lost and grants a new one; the
	// extended term stays.
	var t2 *Term
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
		if !term.Valid(env.clk.Now()) {
			t.Fatalf("extended term ended after the store came back: %v", term.Err())
		}
		// Until a keepalive has found the lease gone, the term is
		// returned as it is.
		nt, err := a.TryAcquire(ctx)
		if err != nil || nt == term {
			return false
		}
		t2 = nt
		return true
	}, "a new term")
	if t2.Token() == term.Token() || t2.Extended() {
		t.Fatalf("new term token %d (old %d), extended %v", t2.Token(), term.Token(), t2.Extended())
	}
	if !errors.Is(term.Err(), ErrSuperseded) {
		t.Fatalf("old term ended with %v, want ErrSuperseded", term.Err())
	}
	obs, err := Current(ctx, s)
	if err != nil || obs.Leader == nil || obs.Leader.Revision != t2.Token() {
		t.Fatalf("leader key %+v (%v), want the new term's", obs.Leader, err)
	}
}

// When the store comes back before the lease expired there, keepalives
// carry the deadline past the extension and the term is bound to its
// lease again, without a new key.
func TestExtendedTermRebindsToSurvivingLease(t *testing.T) {
	o := testOpts.WithDefaults()
	env := newMemEnv(t)
	a, s, term := extendedThroughOutage(t, env, o.KeepAliveInterval)
	s.SetFault(memory.Fault{})
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
		if !term.Valid(env.clk.Now()) {
			t.Fatalf("term ended: %v", term.Err())
		}
		return !term.Extended()
	}, "the lease carrying the term again")
	if got, err := a.TryAcquire(context.Background()); err != nil || got != term {
		t.Fatalf("TryAcquire = %v, %v; want the same term", got, err)
	}
}

// An extended term ends when a guarded write finds another holder's key,
// and TryAcquire reports that holder.
func TestExtendedTermEndsOnAnotherHolder(t *testing.T) {
	o := testOpts.WithDefaults()
	env := newMemEnv(t)
	a, s, term := extendedThroughOutage(t, env, 3*o.TTL)
	b := env.candidate(t, env.store(t, o.RequestTimeout), "b", testOpts)
	var tb *Term
	env.advanceUntil(t, 20*time.Millisecond, 3*o.TTL, func() bool {
		nt, err := b.TryAcquire(context.Background())
		tb = nt
		return err == nil
	}, "b takes the expired key")
	if !term.Valid(env.clk.Now()) {
		t.Fatalf("extended term ended before anyone looked: %v", term.Err())
	}
	s.SetFault(memory.Fault{})
	ctx := context.Background()
	env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
		_, err := a.TryAcquire(ctx)
		return errors.Is(err, ErrLeaderExists)
	}, "a sees b's key")
	if _, err := term.Put(ctx, dcs.KeyStatus, []byte("{}"), dcs.Cond{}); err == nil {
		t.Fatal("a guarded write of the extended term succeeded under b's key")
	}
	if term.Valid(env.clk.Now()) || term.Err() == nil {
		t.Fatalf("extended term still valid after a conflict with %q's key", tb.Leader().Name)
	}
}

func TestExtendRefusals(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	term := mustAcquire(t, a)
	if term.Extend(term.Deadline().Add(-time.Second)) {
		t.Error("Extend shortened the deadline")
	}
	if err := term.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	if term.Extend(env.clk.Now().Add(time.Hour)) {
		t.Error("Extend revived a resigned term")
	}
}
