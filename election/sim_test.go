package election

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs/memory"
)

// simOpts are short so that a round sees several hand-overs.
var simOpts = Options{TTL: 2 * time.Second}

// action is what a simulated holder does to its own term.
type action int

const (
	actResign action = iota
	actFreeze
	actHang
	actUnavailable
	actSlow // store answers late but within the request timeout
	actCrash
	numActions
)

// TestNoOverlapRandomizedMemory runs seeded rounds of contenders on the
// in-memory store and a virtual clock. Holders resign, freeze, lose the store
// (hang or refused), see it slow, or crash and restart, at times drawn from
// the seed; no two recorded (acquired, deadline) intervals may overlap. The
// fault schedule is a function of the seed; goroutine interleavings are not,
// and the invariant must hold under whichever happens.
func TestNoOverlapRandomizedMemory(t *testing.T) {
	const rounds = 200
	for _, n := range []int{2, 5} {
		t.Run(fmt.Sprintf("contenders=%d", n), func(t *testing.T) {
			total, minGap := 0, time.Duration(-1)
			for seed := uint64(1); seed <= rounds; seed++ {
				h, g := simRound(t, seed, n)
				total += h
				if g >= 0 && (minGap < 0 || g < minGap) {
					minGap = g
				}
				if t.Failed() {
					t.Fatalf("failed at seed %d (contenders=%d)", seed, n)
				}
			}
			t.Logf("%d rounds, %d hand-overs, smallest gap between a deadline and the next acquisition (not resign): %v", rounds, total, minGap)
			if total < rounds/2 { // guards against a vacuous run, not a speed goal
				t.Errorf("only %d hand-overs in %d rounds", total, rounds)
			}
		})
	}
}

func simRound(t *testing.T, seed uint64, n int) (int, time.Duration) {
	env := newMemEnv(t)
	o := simOpts.WithDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	var wg sync.WaitGroup
	for i := range n {
		store := env.store(t, o.RequestTimeout)
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		name := fmt.Sprintf("n%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			simContender(ctx, t, env, store, name, rng, rec)
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 1<<32))
	end := env.clk.Now().Add(10 * o.TTL)
	for env.clk.Now().Before(end) {
		env.clk.Advance(time.Duration(5+rng.IntN(95)) * time.Millisecond)
		letRun() // pacing only: no check depends on how far the nodes got
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		case <-pace.C:
			env.clk.Advance(50 * time.Millisecond) // calls in flight time out on the virtual clock
		}
	}
	return rec.check(t)
}

// simContender campaigns, then abuses each term it wins as its rng says,
// until ctx ends.
func simContender(ctx context.Context, t *testing.T, env *memEnv, store *memory.Store, name string, rng *rand.Rand, rec *recorder) {
	o := simOpts
	o.Clock = env.clk
	o.Logger = quietLogger()
	c, err := New(store, name, o)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() { c.Close() }()
	for ctx.Err() == nil {
		term, err := c.Campaign(ctx)
		if err != nil {
			return
		}
		rec.add(name, term)
		for term.Err() == nil {
			hold := time.Duration(rng.IntN(3000)) * time.Millisecond
			act := action(rng.IntN(int(numActions)))
			span := time.Duration(200+rng.IntN(3000)) * time.Millisecond
			if !sleepFake(ctx, env.clk, hold, term.Done()) {
				break
			}
			switch act {
			case actResign:
				_ = term.Resign(ctx)
			case actFreeze:
				c.freeze()
				sleepFake(ctx, env.clk, span, nil)
				c.thaw()
			case actHang, actUnavailable, actSlow:
				f := memory.Fault{Hang: act == actHang, Unavailable: act == actUnavailable}
				if act == actSlow {
					f.Delay = time.Duration(rng.IntN(int(o.WithDefaults().RequestTimeout)))
				}
				store.SetFault(f)
				sleepFake(ctx, env.clk, span, nil)
				store.SetFault(memory.Fault{})
			case actCrash:
				c.Close()
				if c, err = New(store, name, o); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}
}

// letRun yields the processor so that goroutines woken by a clock advance
// get to run before the next one.
func letRun() {
	for range 50 {
		runtime.Gosched()
	}
}

// sleepFake waits d on the virtual clock; false if done or ctx ended first.
func sleepFake(ctx context.Context, clk clock.Clock, d time.Duration, done <-chan struct{}) bool {
	timer := clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return true
	case <-done:
		return false
	case <-ctx.Done():
		return false
	}
}
