package failover_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
)

// fsNode is one member of a failsafe test cluster: a Controller over a
// fake PostgreSQL, its own DCS client (faults are per node), and its REST
// API on a real HTTP server, which the other members' POST /failsafe
// reach.
type fsNode struct {
	name  string
	inst  *fakePG
	store *memory.Store
	ctrl  *failover.Controller
	srv   *httptest.Server
	// refuse makes the REST API answer 503 to everything: the member is
	// out of the primary's reach.
	refuse atomic.Bool
	events eventLog
	stop   func()
}

// fsCluster starts n members with failsafe mode on the memory DCS, the
// first one bootstrapping, and waits until it leads with the others
// replicas and the failsafe key lists everyone.
func fsCluster(t *testing.T, n int, failsafe bool) (nodes []*fsNode, observer dcs.Store) {
	return fsClusterWith(t, n, failsafe, nil)
}

// fsClusterWith is fsCluster with custom changes each member's options.
func fsClusterWith(t *testing.T, n int, failsafe bool, custom func(i int, o *failover.ControllerOptions)) (nodes []*fsNode, observer dcs.Store) {
	t.Helper()
	mc := memory.NewCluster(memory.ClusterOptions{Logger: quiet()})
	t.Cleanup(func() { _ = mc.Close() })
	observer = mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
	for i := range n {
		nd := &fsNode{name: fmt.Sprintf("n%d", i+1), inst: newFakePG()}
		nd.store = mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
		var h atomic.Pointer[healthapi.Handler]
		nd.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hh := h.Load(); hh != nil && !nd.refuse.Load() {
				hh.ServeHTTP(w, r)
				return
			}
			http.Error(w, "unreachable", http.StatusServiceUnavailable)
		}))
		t.Cleanup(nd.srv.Close)
		o := baseOptions(nd.store, nd.inst)
		o.Name, o.APIURL = nd.name, nd.srv.URL+"/patroni"
		o.Settings = shortSettings()
		o.Settings.FailsafeMode = failsafe
		o.OnEvent = nd.events.add
		if i > 0 {
			o.Bootstrap = nil
		}
		if custom != nil {
			custom(i, &o)
		}
		c, stop := runController(t, o)
		nd.stop = stop
		nd.ctrl = c
		hh, err := healthapi.New(healthapi.Options{Source: c, Manager: c, AllowUnauthenticated: true, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		h.Store(hh)
		nodes = append(nodes, nd)
		if i == 0 {
			waitLeading(t, c)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, nd := range nodes[1:] {
			if s := nd.ctrl.State(); s == nil || s.Role != dcs.RoleReplica || s.PGState != dcs.StateRunning {
				return fmt.Errorf("%s: %+v", nd.name, s)
			}
		}
		if cl := read(t, observer); failsafe && len(cl.Failsafe) != n {
			return fmt.Errorf("failsafe key %v", cl.Failsafe)
		}
		return nil
	}, "replicas running and the failsafe key complete")
	return nodes, observer
}

// stoppedOrDemoted reports whether the fake server was stopped or demoted.
func stoppedOrDemoted(f *fakePG) bool {
	return slices.ContainsFunc(f.Calls(), func(c string) bool {
		return strings.HasPrefix(c, "stop:") || strings.HasPrefix(c, "demote:") || strings.HasPrefix(c, "fence")
	})
}

// TestFailsafePrimaryCutOffFromDCS: with failsafe mode on, a primary cut
// off from the DCS while it reaches every member keeps its term and its
// server well past the lease's expiry; the members do not race although
// the leader key is gone from their view; when the DCS is back the
// primary takes the key again and failsafe mode ends.
func TestFailsafePrimaryCutOffFromDCS(t *testing.T) {
	nodes, observer := fsCluster(t, 3, true)
	p := nodes[0]
	ttl := shortSettings().TTL
	before := read(t, observer).Leader.Revision
	p.store.SetFault(memory.Fault{Unavailable: true})
	cutAt := time.Now()
	var sawActive, sawKeyGone bool
	for time.Since(cutAt) < 3*ttl {
		if s := p.ctrl.State(); s == nil || !s.IsLeader {
			t.Fatalf("%s stopped leading %v after the cut: %+v", p.name, time.Since(cutAt), s)
		} else if s.FailsafeActive {
			sawActive = true
		}
		if stoppedOrDemoted(p.inst) {
			t.Fatalf("%s's server was stopped: %v", p.name, p.inst.Calls())
		}
		cl := read(t, observer)
		if l := cl.Leader; l == nil {
			sawKeyGone = true
		} else if l.Name != p.name {
			t.Fatalf("%s took the leader key while %s ran on failsafe confirmations", l.Name, p.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawActive || !sawKeyGone {
		t.Fatalf("failsafe active seen %v, leader key expired seen %v: the test did not test failsafe mode", sawActive, sawKeyGone)
	}
	p.store.SetFault(memory.Fault{})
	testutil.Eventually(t, 3*ttl, func() error {
		cl := read(t, observer)
		if cl.Leader == nil || cl.Leader.Name != p.name || cl.Leader.Revision == before {
			return fmt.Errorf("leader key %+v", cl.Leader)
		}
		if s := p.ctrl.State(); !s.IsLeader || s.FailsafeActive || s.Term != cl.Leader.Revision {
			return fmt.Errorf("state: leader %v failsafe %v term %d", s.IsLeader, s.FailsafeActive, s.Term)
		}
		return nil
	}, "the primary took the key again")
	if stoppedOrDemoted(p.inst) {
		t.Fatalf("%s's server was stopped: %v", p.name, p.inst.Calls())
	}
	for _, nd := range nodes[1:] {
		if nd.events.has(failover.EventAcquired) {
			t.Errorf("%s acquired the leader key", nd.name)
		}
	}
	if !p.events.has(failover.EventFailsafe) {
		t.Errorf("no failsafe event on %s: %v", p.name, p.events.kinds())
	}
}

// TestFailsafeNeedsEveryMember: a primary cut off from the DCS that
// cannot reach one member stops before its key could expire, as it would
// without failsafe mode: the member it could not ask may be on the DCS's
// side and win the race. Nobody else holds the key while its server runs.
func TestFailsafeNeedsEveryMember(t *testing.T) {
	tests := []struct {
		name     string
		failsafe bool
		refuse   int // member whose API is out of reach, 0 for none
	}{
		{"failsafe on, one member unreachable", true, 2},
		{"failsafe off", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, observer := fsCluster(t, 3, tt.failsafe)
			p := nodes[0]
			ttl := shortSettings().TTL
			if tt.refuse > 0 {
				nodes[tt.refuse].refuse.Store(true)
			}
			p.store.SetFault(memory.Fault{Unavailable: true})
			cutAt := time.Now()
			term := read(t, observer).Leader.Revision
			var stoppedAt, otherAt time.Time
			stoppedWithKey := false
			testutil.Eventually(t, 4*ttl, func() error {
				if stoppedAt.IsZero() && stoppedOrDemoted(p.inst) {
					stoppedAt = time.Now()
					cl := read(t, observer)
					stoppedWithKey = cl.Leader != nil && cl.Leader.Revision == term
				}
				if s := p.ctrl.State(); s != nil && s.FailsafeActive {
					return fmt.Errorf("%s in failsafe mode without every member's confirmation", p.name)
				}
				if cl := read(t, observer); cl.Leader != nil && cl.Leader.Name != p.name && otherAt.IsZero() {
					otherAt = time.Now()
				}
				if stoppedAt.IsZero() {
					return fmt.Errorf("%s still runs its primary %v after the cut", p.name, time.Since(cutAt))
				}
				return nil
			}, "the cut-off primary stops")
			if !otherAt.IsZero() && otherAt.Before(stoppedAt) {
				t.Fatalf("another member held the leader key at %v, before %s stopped at %v", otherAt.Sub(cutAt), p.name, stoppedAt.Sub(cutAt))
			}
			if !stoppedWithKey {
				t.Errorf("%s stopped %v after the cut, when its leader key had already expired", p.name, stoppedAt.Sub(cutAt))
			}
		})
	}
}

// TestAcceptFailsafeRefusals: a member that runs as primary refuses to
// confirm another (Running as a leader), and so does one whose fresh DCS
// view names a leader other than the caller; the leader's own confirmation
// request to a replica is accepted and answered with its WAL position.
func TestAcceptFailsafeRefusals(t *testing.T) {
	nodes, _ := fsCluster(t, 2, true)
	p, r := nodes[0], nodes[1]
	ctx := t.Context()
	ask := func(to *fsNode, from string) (int64, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return healthapi.PostFailsafe(ctx, nil, to.srv.URL+"/patroni", nil, healthapi.FailsafeRequest{Name: from, APIURL: "http://127.0.0.1:1/patroni"})
	}
	if _, err := ask(p, r.name); !errors.Is(err, healthapi.ErrRunningAsLeader) {
		t.Errorf("the primary confirmed %s: %v", r.name, err)
	}
	if _, err := ask(r, "n9"); !errors.Is(err, healthapi.ErrFailsafeRefused) {
		t.Errorf("a replica following %s confirmed n9: %v", p.name, err)
	}
	lsn, err := ask(r, p.name)
	if err != nil || lsn <= 0 {
		t.Errorf("a replica refused its own leader: lsn %d, %v", lsn, err)
	}
}
