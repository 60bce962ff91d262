package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// leaderEvent is one change of the leader key as seen by a watch; Name is
// "" when the key was deleted (released or expired).
type leaderEvent struct {
	At   time.Time
	Name string
}

// leaderWatch records every change of the leader key with the time it was
// received, so a test can tell when the lease expired and when a new
// leader appeared, and check that no change happened at all.
type leaderWatch struct {
	mu     sync.Mutex
	events []leaderEvent
	err    error
}

// watchLeader starts recording leader key changes until the test ends.
func (h *harness) watchLeader(t *testing.T) *leaderWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	key := h.prefix + dcs.KeyLeader
	get, err := h.etcd.Get(ctx, key)
	if err != nil {
		cancel()
		t.Fatalf("read leader key: %v", err)
	}
	lw := &leaderWatch{}
	done := make(chan struct{})
	wch := h.etcd.Watch(ctx, key, clientv3.WithRev(get.Header.Revision+1))
	go func() {
		defer close(done)
		for resp := range wch {
			now := time.Now()
			lw.mu.Lock()
			if err := resp.Err(); err != nil {
				lw.err = err
			}
			for _, ev := range resp.Events {
				name := ""
				if ev.Type == clientv3.EventTypePut {
					name = string(ev.Kv.Value)
				}
				lw.events = append(lw.events, leaderEvent{At: now, Name: name})
			}
			lw.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return lw
}

// Events returns a copy of the changes seen so far.
func (lw *leaderWatch) Events() []leaderEvent {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return append([]leaderEvent(nil), lw.events...)
}

// firstChange returns the first event after at for which match is true.
func (lw *leaderWatch) firstChange(at time.Time, match func(name string) bool) (leaderEvent, bool) {
	for _, ev := range lw.Events() {
		if ev.At.After(at) && match(ev.Name) {
			return ev, true
		}
	}
	return leaderEvent{}, false
}

// otherThan returns the events that name a leader other than name
// (including deletions).
func (lw *leaderWatch) otherThan(name string) []leaderEvent {
	var out []leaderEvent
	for _, ev := range lw.Events() {
		if ev.Name != name {
			out = append(out, ev)
		}
	}
	return out
}

// gap is the longest interval without an acknowledged write around a fault.
type gap struct {
	LastBefore, FirstAfter time.Time
}

// Duration is the length of the gap.
func (g gap) Duration() time.Duration { return g.FirstAfter.Sub(g.LastBefore) }

// outage returns the longest gap between consecutive acknowledged writes
// that ends after from and starts before until. For a crash the gap that
// contains the fault is the outage; for a switchover the write pause starts
// some time after the request, so the whole window is searched.
func outage(acks []localcluster.Ack, from, until time.Time) (gap, bool) {
	var best gap
	found := false
	for i := 1; i < len(acks); i++ {
		prev, next := acks[i-1].At, acks[i].At
		if !next.After(from) || !prev.Before(until) {
			continue
		}
		if g := (gap{prev, next}); !found || g.Duration() > best.Duration() {
			best, found = g, true
		}
	}
	return best, found
}

// ms formats a duration in milliseconds for the test log.
func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// primaryProbe checks one node every 100 ms from before a fault until
// Stop: GET /primary must answer 200 and the postmaster must stay the same
// process. It records what it saw, for a "no demotion" assertion that also
// covers the moments while the fault is being injected.
type primaryProbe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	probes   int
	notOK    int
	firstBad string
}

// probePrimary starts probing node name whose postmaster runs as pid.
func (h *harness) probePrimary(t *testing.T, name string, pid int) *primaryProbe {
	t.Helper()
	n := h.c.Node(name)
	if n == nil {
		t.Fatalf("unknown node %s", name)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	p := &primaryProbe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			code := httpStatus(ctx, n.APIURL()+"/primary")
			now, err := n.PostmasterPID()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.probes++
			bad := ""
			switch {
			case err != nil || now != pid:
				bad = fmt.Sprintf("postmaster pid %d -> %d (%v)", pid, now, err)
			case code != 200:
				bad = fmt.Sprintf("GET /primary answered %d", code)
			}
			if bad != "" {
				p.notOK++
				if p.firstBad == "" {
					p.firstBad = time.Now().Format("15:04:05.000") + ": " + bad
				}
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the probing; it is idempotent.
func (p *primaryProbe) Stop() {
	p.cancel()
	<-p.done
}

// Result returns the number of probes, how many failed and the first
// failure.
func (p *primaryProbe) Result() (probes, notOK int, first string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes, p.notOK, p.firstBad
}
