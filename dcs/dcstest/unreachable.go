package dcstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// unreachableTimeout is the request timeout of the unreachable store.
const unreachableTimeout = 500 * time.Millisecond

// testUnreachable checks that every call to a store whose backend never
// answers returns ErrUnavailable within its request timeout or its
// context's deadline (plus slack), and that a watch on it ends with its
// context.
func testUnreachable(t *testing.T, b Backend) {
	s := b.NewUnreachableStore(t, unreachableTimeout)
	calls := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx); return err }},
		{"Grant", func(ctx context.Context) error { _, err := s.Grant(ctx, b.TTL); return err }},
		{"KeepAlive", func(ctx context.Context) error { return s.KeepAlive(ctx, 1) }},
		{"Revoke", func(ctx context.Context) error { return s.Revoke(ctx, 1) }},
		{"Put", func(ctx context.Context) error {
			_, err := s.Put(ctx, dcs.KeyLeader, []byte("a"), 0, dcs.Cond{Absent: true})
			return err
		}},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, dcs.KeyConfig, dcs.Cond{}) }},
	}
	for _, c := range calls {
		t.Run(c.name+"/RequestTimeout", func(t *testing.T) {
			err := boundedCall(t, b, context.Background(), unreachableTimeout, c.fn)
			if !errors.Is(err, dcs.ErrUnavailable) {
				t.Fatalf("%s on an unreachable store = %v, want ErrUnavailable", c.name, err)
			}
		})
		t.Run(c.name+"/ContextDeadline", func(t *testing.T) {
			// The context ends first: on a virtual clock the request timeout
			// never elapses here, on a real one it is longer.
			ctx, cancel := context.WithTimeout(context.Background(), unreachableTimeout/5)
			defer cancel()
			err := boundedCall(t, Backend{}, ctx, unreachableTimeout/5, c.fn)
			if !errors.Is(err, dcs.ErrUnavailable) {
				t.Fatalf("%s with an expiring context = %v, want ErrUnavailable", c.name, err)
			}
		})
	}
	t.Run("Watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ch := s.Watch(ctx, 0)
		cancel()
		timer := time.NewTimer(unreachableSlack)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-timer.C:
				t.Fatalf("watch channel still open %v after its context ended", unreachableSlack)
			}
		}
	})
}

// boundedCall runs fn and fails unless it returns within timeout plus
// slack. With a virtual clock (b.Advance) it moves the clock in steps while
// waiting, and the bound is on virtual time advanced, loosely, since the
// call may arm its timer late.
func boundedCall(t *testing.T, b Backend, ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fn(ctx) }()
	if b.Advance == nil {
		timer := time.NewTimer(timeout + unreachableSlack)
		defer timer.Stop()
		select {
		case err := <-done:
			t.Logf("returned after %v (timeout %v): %v", time.Since(start).Round(time.Millisecond), timeout, err)
			return err
		case <-timer.C:
			t.Fatalf("call still blocked %v after a %v timeout", timeout+unreachableSlack, timeout)
			return nil
		}
	}
	step := timeout / 10
	var advanced time.Duration
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case err := <-done:
			t.Logf("returned after %v of virtual time (timeout %v): %v", advanced, timeout, err)
			return err
		case <-tick.C:
			if time.Now().After(deadline) {
				t.Fatalf("call still blocked after %v of virtual time and %v of real time", advanced, waitTimeout)
			}
			b.Advance(step)
			advanced += step
		}
	}
}
