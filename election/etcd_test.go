package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// etcdOpts are short timings for tests on real etcd (etcd's minimum TTL
// with the harness's raft timings is 1 s).
var etcdOpts = Options{
	TTL:               2 * time.Second,
	KeepAliveInterval: 300 * time.Millisecond,
	RequestTimeout:    300 * time.Millisecond,
	Margin:            300 * time.Millisecond,
	RetryInterval:     500 * time.Millisecond,
}

func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newEtcdStore(t testing.TB, endpoints []string, scope string) *etcd.Store {
	t.Helper()
	s, err := etcd.New(etcd.Config{Endpoints: endpoints, Scope: scope, RequestTimeout: 2 * time.Second, Logger: warnLogger()})
	if err != nil {
		t.Fatalf("etcd.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEtcdCandidate(t testing.TB, s dcs.Store, name string, o Options) *Candidate {
	t.Helper()
	if o.Logger == nil {
		o.Logger = warnLogger()
	}
	c, err := New(s, name, o)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// proxied returns endpoints that reach every member of ec through fault
// proxies of their own, so that one client can be cut off alone.
func proxied(t testing.TB, ec *testutil.EtcdCluster) ([]string, []*testutil.Proxy) {
	var eps []string
	var ps []*testutil.Proxy
	for i := range ec.Size() {
		p := testutil.NewProxy(t, strings.TrimPrefix(ec.Endpoint(i), "http://"))
		eps = append(eps, p.URL())
		ps = append(ps, p)
	}
	return eps, ps
}

// awaitTerm waits (real time) for a campaign to return.
func awaitTerm(t testing.TB, ch <-chan *Term, timeout time.Duration, what string) *Term {
	t.Helper()
	select {
	case term := <-ch:
		if term == nil {
			t.Fatalf("%s: campaign failed", what)
		}
		return term
	case <-time.After(timeout):
		t.Fatalf("%s: no acquisition within %v", what, timeout)
	}
	return nil
}

// TestNoOverlapEtcd: rounds of 2 and 5 contenders on real etcd with 1 and 3
// members. In each round every contender campaigns; the winner resigns or
// freezes (keepalives and its deadline timer stop); the next winner must not
// start before the first one's deadline.
func TestNoOverlapEtcd(t *testing.T) {
	const roundsPerCase = 5
	var minGap time.Duration = -1
	total := 0
	for _, members := range []int{1, 3} {
		ec := testutil.StartEtcd(t, members)
		for _, n := range []int{2, 5} {
			t.Run(fmt.Sprintf("members=%d/contenders=%d", members, n), func(t *testing.T) {
				for round := range roundsPerCase {
					seed := uint64(members*1000 + n*100 + round)
					h, g := etcdRound(t, ec, seed, n)
					total += h
					if g >= 0 && (minGap < 0 || g < minGap) {
						minGap = g
					}
					if t.Failed() {
						t.Fatalf("failed at seed %d", seed)
					}
				}
			})
		}
	}
	t.Logf("%d rounds, %d hand-overs; smallest gap between an expired holder's deadline and the next acquisition: %v", 4*roundsPerCase, total, minGap)
}

func etcdRound(t *testing.T, ec *testutil.EtcdCluster, seed uint64, n int) (int, time.Duration) {
	rng := rand.New(rand.NewPCG(seed, 7))
	scope := fmt.Sprintf("round-%d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &recorder{}
	cands := make([]*Candidate, n)
	won := make(chan *Term, n)
	byTerm := sync.Map{}
	for i := range n {
		c := newEtcdCandidate(t, newEtcdStore(t, ec.Endpoints(), scope), fmt.Sprintf("n%d", i), etcdOpts)
		cands[i] = c
		go func() {
			term, err := c.Campaign(ctx)
			if err != nil {
				term = nil
			} else {
				byTerm.Store(term, c)
				rec.add(c.Name(), term)
			}
			won <- term
		}()
	}
	first := awaitTerm(t, won, 20*time.Second, "first acquisition")
	v, _ := byTerm.Load(first)
	holder := v.(*Candidate)
	freeze := rng.IntN(3) == 0
	if freeze {
		holder.freeze()
	} else if err := first.Resign(ctx); err != nil {
		t.Fatalf("resign: %v", err)
	}
	second := awaitTerm(t, won, 20*time.Second, "second acquisition")
	if freeze {
		if first.Valid(time.Now()) {
			t.Fatal("frozen holder still valid after another acquired")
		}
		l := first.Leader()
		if _, err := holder.store.Put(ctx, dcs.KeyStatus, []byte("{}"), 0, dcs.Cond{Leader: &l}); !errors.Is(err, dcs.ErrConflict) {
			t.Fatalf("guarded write of the frozen holder = %v, want dcs.ErrConflict", err)
		}
		holder.thaw()
	}
	_ = second
	cancel()
	for _, c := range cands {
		c.Close()
	}
	return rec.check(t)
}

// TestPartitionedHolderEtcd cuts the holder's client traffic to every etcd
// member: its term must end before the other contender acquires.
func TestPartitionedHolderEtcd(t *testing.T) {
	ec := testutil.StartEtcd(t, 3)
	eps, proxies := proxied(t, ec)
	a := newEtcdCandidate(t, newEtcdStore(t, eps, "partition"), "a", etcdOpts)
	b := newEtcdCandidate(t, newEtcdStore(t, ec.Endpoints(), "partition"), "b", etcdOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec := &recorder{}
	ta, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.add("a", ta)
	aDone := make(chan time.Time, 1)
	go func() { <-ta.Done(); aDone <- time.Now() }()
	if _, err := b.Lease(ctx); err != nil {
		t.Fatal(err)
	}
	won := campaignAsync(ctx, b)
	cut := time.Now()
	for _, p := range proxies {
		p.Blackhole()
	}
	tb := awaitTerm(t, won, 20*time.Second, "b after a is partitioned")
	rec.add("b", tb)
	doneAt := <-aDone
	if !doneAt.Before(tb.Acquired()) || !ta.Deadline().Before(tb.Acquired()) {
		t.Fatalf("a's term ended at %v (deadline %v), b acquired at %v: a must end first", doneAt, ta.Deadline(), tb.Acquired())
	}
	t.Logf("partition at 0; a's deadline +%v, a's Done seen +%v, b acquired +%v: margin %v between a's Done and b's acquisition (reason: %v)",
		ta.Deadline().Sub(cut), doneAt.Sub(cut), tb.Acquired().Sub(cut), tb.Acquired().Sub(doneAt), ta.Err())
	for _, p := range proxies {
		p.Pass()
	}
	a.Close()
	b.Close()
	rec.check(t)
}

// TestKillEtcdLeader hard-kills the etcd leader member under a holder: the
// holder keeps its term if its keepalives get through in time, or steps down
// and someone acquires again; never two holders.
func TestKillEtcdLeader(t *testing.T) {
	ec := testutil.StartEtcd(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec := &recorder{}
	names := []string{"a", "b", "c"}
	cands := make([]*Candidate, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		c := newEtcdCandidate(t, newEtcdStore(t, ec.AllEndpoints(), "kill"), name, etcdOpts)
		cands[i] = c
		wg.Add(1)
		go func() { // campaign, hold until the term ends, campaign again
			defer wg.Done()
			for ctx.Err() == nil {
				term, err := c.Campaign(ctx)
				if err != nil {
					return
				}
				rec.add(name, term)
				select {
				case <-term.Done():
				case <-ctx.Done():
				}
			}
		}()
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if rec.len() == 0 {
			return errors.New("no leader yet")
		}
		return nil
	}, "first acquisition")
	rec.mu.Lock()
	first := rec.list[0].term
	rec.mu.Unlock()
	victim := ec.WaitLeader(t)
	ec.Kill(t, victim)
	killed := time.Now()
	newLeader := ec.WaitLeader(t)
	t.Logf("killed etcd leader member %d; member %d leads after %v", victim, newLeader, time.Since(killed))
	// Watch the election for three TTLs after the kill, then require a holder.
	until := killed.Add(3 * etcdOpts.TTL)
	testutil.Eventually(t, 30*time.Second, func() error {
		if time.Now().Before(until) {
			return errors.New("observing")
		}
		for _, c := range cands {
			if term := c.Term(); term != nil && term.Valid(time.Now()) {
				return nil
			}
		}
		return errors.New("no valid term")
	}, "a holder after the etcd leader was killed")
	if first.Err() == nil {
		t.Logf("holder %s kept its term through the etcd leader change (deadline now kill+%v)", first.Leader().Name, first.Deadline().Sub(killed))
	} else {
		t.Logf("holder %s stepped down: %v; %d terms in total", first.Leader().Name, first.Err(), rec.len())
	}
	cancel()
	for _, c := range cands {
		c.Close()
	}
	wg.Wait()
	rec.check(t)
}
