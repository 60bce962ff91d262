package election

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

const testScope = "election-test"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memEnv is an in-memory DCS on a virtual clock.
type memEnv struct {
	clk *clock.Fake
	cl  *memory.Cluster
}

func newMemEnv(t testing.TB) *memEnv {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cl := memory.NewCluster(memory.ClusterOptions{Clock: clk, Logger: quietLogger()})
	t.Cleanup(func() { cl.Close() })
	return &memEnv{clk: clk, cl: cl}
}

// store returns a new client handle (one per simulated node).
func (e *memEnv) store(t testing.TB, timeout time.Duration) *memory.Store {
	s := e.cl.Store(dcs.Prefix("", testScope), memory.StoreOptions{RequestTimeout: timeout})
	t.Cleanup(func() { s.Close() })
	return s
}

func newMemStore(t testing.TB) *memory.Store { return newMemEnv(t).store(t, time.Second) }

// candidate starts a candidate on the virtual clock, closed by t.Cleanup.
func (e *memEnv) candidate(t testing.TB, s dcs.Store, name string, o Options) *Candidate {
	t.Helper()
	o.Clock = e.clk
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	c, err := New(s, name, o)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// advanceUntil moves the virtual clock forward by step, paced in real time so
// that the goroutines under test get to run, until cond holds; it fails the
// test after limit of virtual time.
func (e *memEnv) advanceUntil(t testing.TB, step, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	start := e.clk.Now()
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for !cond() {
		if e.clk.Now().Sub(start) > limit {
			t.Fatalf("%s: not reached after %v of virtual time", what, limit)
		}
		e.clk.Advance(step)
		<-pace.C
	}
}

// settle lets goroutines react to the current virtual time until cond holds,
// without moving the clock, for at most 10 s of real time.
func settle(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		<-pace.C
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recvObs waits (real time) for the next observation.
func recvObs(t testing.TB, ch <-chan Observation, advance func()) Observation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for {
		select {
		case o, ok := <-ch:
			if !ok {
				t.Fatal("observe channel closed")
			}
			return o
		case <-pace.C:
			if time.Now().After(deadline) {
				t.Fatal("no observation")
			}
			if advance != nil {
				advance()
			}
		}
	}
}

// tenure is one term as recorded by a test.
type tenure struct {
	who  string
	term *Term
}

// recorder collects every term won during a test and checks that no two
// (acquired, deadline) intervals overlap.
type recorder struct {
	mu   sync.Mutex
	list []tenure
}

func (r *recorder) add(who string, t *Term) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, tenure{who, t})
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// check must run once every recorded term has ended. It returns the number
// of hand-overs and the smallest gap between the end of one term and the
// start of the next.
func (r *recorder) check(t testing.TB) (handovers int, minGap time.Duration) {
	t.Helper()
	r.mu.Lock()
	list := append([]tenure(nil), r.list...)
	r.mu.Unlock()
	type iv struct {
		who      string
		a, d     time.Time
		token    int64
		lease    dcs.LeaseID
		err      error
		resigned bool
	}
	ivs := make([]iv, 0, len(list))
	for _, x := range list {
		err := x.term.Err()
		if err == nil {
			t.Fatalf("term of %s (token %d) still active at check", x.who, x.term.Token())
		}
		ivs = append(ivs, iv{x.who, x.term.Acquired(), x.term.Deadline(), x.term.Token(), x.term.Leader().Lease, err, err == ErrResigned})
	}
	sort.SliceStable(ivs, func(i, j int) bool { return ivs[i].a.Before(ivs[j].a) })
	minGap = -1
	var b strings.Builder
	for i, cur := range ivs {
		fmt.Fprintf(&b, "  %s token=%d acquired=%v deadline=%v reason=%v\n", cur.who, cur.token, cur.a.Format("15:04:05.000000"), cur.d.Format("15:04:05.000000"), cur.err)
		if i == 0 {
			continue
		}
		prev := ivs[i-1]
		for _, p := range ivs[:i] {
			if cur.a.Before(p.d) {
				t.Errorf("overlap: %s acquired at %v before %s's deadline %v\n%s", cur.who, cur.a, p.who, p.d, b.String())
			}
		}
		switch {
		case cur.token < prev.token:
			t.Errorf("fencing token went backwards: %s %d after %s %d", cur.who, cur.token, prev.who, prev.token)
		case cur.token == prev.token && (cur.who != prev.who || cur.lease != prev.lease):
			t.Errorf("token %d reused by %s after %s", cur.token, cur.who, prev.who)
		}
		if cur.who != prev.who {
			handovers++
			if gap := cur.a.Sub(prev.d); !prev.resigned && (minGap < 0 || gap < minGap) {
				minGap = gap
			}
		}
	}
	return handovers, minGap
}

// campaignAsync runs Campaign on its own goroutine.
func campaignAsync(ctx context.Context, c *Candidate) <-chan *Term {
	out := make(chan *Term, 1)
	go func() {
		t, err := c.Campaign(ctx)
		if err != nil {
			t = nil
		}
		out <- t
	}()
	return out
}
