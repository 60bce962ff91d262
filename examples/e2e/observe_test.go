package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// watchLeader starts recording leader key changes until the test ends.
func (h *harness) watchLeader(t *testing.T) *localcluster.LeaderWatch {
	t.Helper()
	lw, err := localcluster.WatchLeader(h.ctx, h.etcd, h.prefix+dcs.KeyLeader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Stop)
	return lw
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
			code := h.c.PrimaryStatus(ctx, name)
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
