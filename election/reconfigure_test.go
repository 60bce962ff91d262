package election

import (
	"context"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs/memory"
)

// A holder whose TTL changes moves to a lease granted with the new TTL:
// the leader key follows with its create revision, the term stays, and its
// deadline follows the new lease, longer or shorter.
func TestReconfigureMovesTheTermToANewLease(t *testing.T) {
	tests := []struct {
		name     string
		from, to time.Duration
		fault    bool // the store is unreachable when the change comes
	}{
		{"longer", 6 * time.Second, 12 * time.Second, false},
		{"shorter", 12 * time.Second, 6 * time.Second, false},
		{"longer, during an outage", 6 * time.Second, 12 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newMemEnv(t)
			o := Options{TTL: tt.from}.WithDefaults()
			s := env.store(t, o.RequestTimeout)
			a := env.candidate(t, s, "a", Options{TTL: tt.from})
			term := mustAcquire(t, a)
			oldLease := term.Leader().Lease
			if tt.fault {
				s.SetFault(memory.Fault{Unavailable: true})
			}
			if err := a.Reconfigure(Options{TTL: tt.to}); err != nil {
				t.Fatal(err)
			}
			if got := a.Options(); got.TTL != tt.to || got.KeepAliveInterval != tt.to/6 {
				t.Fatalf("options after Reconfigure: %+v", got)
			}
			if tt.fault {
				env.advanceUntil(t, 10*time.Millisecond, o.TTL, func() bool {
					return env.clk.Now().After(term.Acquired().Add(3 * o.KeepAliveInterval))
				}, "three failed keepalives")
				if !term.Valid(env.clk.Now()) {
					t.Fatalf("term ended during the outage: %v", term.Err())
				}
				s.SetFault(memory.Fault{})
			}
			to := Options{TTL: tt.to}.WithDefaults()
			env.advanceUntil(t, 10*time.Millisecond, 2*tt.from, func() bool {
				if !term.Valid(env.clk.Now()) {
					t.Fatalf("term ended: %v", term.Err())
				}
				return term.Leader().Lease != oldLease
			}, "the leader key on the new lease")
			obs, err := Current(context.Background(), s)
			if err != nil || obs.Leader == nil || obs.Leader.Revision != term.Token() || obs.Leader.Lease != term.Leader().Lease {
				t.Fatalf("leader key %+v (%v), want revision %d on lease %d", obs.Leader, err, term.Token(), term.Leader().Lease)
			}
			if id, err := a.Lease(context.Background()); err != nil || id != term.Leader().Lease {
				t.Fatalf("Lease() = %d, %v; want the new lease %d", id, err, term.Leader().Lease)
			}
			// The deadline follows the new lease's TTL.
			left := term.Deadline().Sub(env.clk.Now())
			if left > to.TTL-to.Margin || left < to.TTL-to.Margin-2*to.KeepAliveInterval {
				t.Fatalf("deadline %v ahead, want about ttl %v − margin %v", left, to.TTL, to.Margin)
			}
			// The old lease ends; the term does not.
			env.advanceUntil(t, 20*time.Millisecond, 2*tt.from, func() bool {
				return env.clk.Now().After(term.Acquired().Add(tt.from + time.Second))
			}, "the old lease expired")
			if !term.Valid(env.clk.Now()) {
				t.Fatalf("term ended with the old lease: %v", term.Err())
			}
			if obs, err := Current(context.Background(), s); err != nil || obs.Leader == nil || obs.Leader.Revision != term.Token() {
				t.Fatalf("leader key after the old lease expired: %+v (%v)", obs.Leader, err)
			}
		})
	}
}

func TestReconfigureRefusesBadTimings(t *testing.T) {
	env := newMemEnv(t)
	a := env.candidate(t, env.store(t, time.Second), "a", testOpts)
	if err := a.Reconfigure(Options{TTL: 500 * time.Millisecond}); err == nil {
		t.Fatal("Reconfigure accepted a TTL below the minimum")
	}
	if got := a.Options().TTL; got != DefaultTTL {
		t.Fatalf("TTL %v after a refused Reconfigure", got)
	}
}
