package failover_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// fsNode is one member of a failsafe test cluster (failovertest): a
// Controller over a pgtest server, its own DCS client (Store.SetFault cuts
// this node alone off) and its REST API (SetAPIReachable(false) puts it
// out of the other members' reach), with the events it reported.
type fsNode struct {
	*failovertest.Node
	events *eventLog
	// postmaster is the server's start time when the cluster was ready:
	// a restart since shows as a new one.
	postmaster time.Time
}

// fsCluster starts n members with failsafe mode as given, the first one
// bootstrapping, and waits until it leads with the others replicas and
// the failsafe key lists everyone.
func fsCluster(t *testing.T, n int, failsafe bool) ([]*fsNode, *failovertest.Cluster) {
	return fsClusterWith(t, n, failsafe, failovertest.Options{}, nil)
}

// fsClusterWith is fsCluster with the harness's options o (HandOver, ...)
// and custom changing each member's Controller options.
func fsClusterWith(t *testing.T, n int, failsafe bool, o failovertest.Options, custom func(i int, o *failover.ControllerOptions)) ([]*fsNode, *failovertest.Cluster) {
	t.Helper()
	logs := make([]*eventLog, n)
	o.Nodes = n
	o.Settings = failovertest.Settings()
	o.Settings.FailsafeMode = failsafe
	o.Logger = quiet()
	o.Configure = func(i int, co *failover.ControllerOptions) {
		logs[i] = &eventLog{}
		co.OnEvent = logs[i].add
		if custom != nil {
			custom(i, co)
		}
	}
	c := failovertest.NewCluster(t, o)
	var nodes []*fsNode
	for i, nd := range c.Nodes() {
		nodes = append(nodes, &fsNode{Node: nd, events: logs[i]})
	}
	waitLeading(t, nodes[0].Controller)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, nd := range nodes[1:] {
			if s := nd.Controller.State(); s == nil || s.Role != dcs.RoleReplica || s.PGState != dcs.StateRunning {
				return fmt.Errorf("%s: %+v", nd.Name, s)
			}
		}
		if cl := read(t, c.Store()); failsafe && len(cl.Failsafe) != n {
			return fmt.Errorf("failsafe key %v", cl.Failsafe)
		}
		return nil
	}, "replicas running and the failsafe key complete")
	for _, nd := range nodes {
		st, err := nd.Server.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		nd.postmaster = st.PostmasterStart
	}
	return nodes, c
}

// stoppedOrDemoted reports whether nd's server stopped, was demoted or
// was restarted since the cluster was ready.
func (nd *fsNode) stoppedOrDemoted() bool {
	st, err := nd.Server.Status(context.Background())
	return err != nil || st.State != pg.StateRunning || st.Role != pg.RolePrimary || !st.PostmasterStart.Equal(nd.postmaster)
}

// describe says what nd's server is doing, for failure messages.
func (nd *fsNode) describe() string {
	return fmt.Sprintf("state %s, role %s, timeline %d", nd.Server.State(), nd.Server.Role(), nd.Server.Timeline())
}

// TestFailsafePrimaryCutOffFromDCS: with failsafe mode on, a primary cut
// off from the DCS while it reaches every member keeps its term and its
// server well past the lease's expiry; the members do not race although
// the leader key is gone from their view; when the DCS is back the
// primary takes the key again and failsafe mode ends.
func TestFailsafePrimaryCutOffFromDCS(t *testing.T) {
	nodes, c := fsCluster(t, 3, true)
	observer := c.Store()
	p := nodes[0]
	ttl := failovertest.Settings().TTL
	before := read(t, observer).Leader.Revision
	p.Store.SetFault(memory.Fault{Unavailable: true})
	cutAt := time.Now()
	var sawActive, sawKeyGone bool
	for time.Since(cutAt) < 3*ttl {
		if s := p.Controller.State(); s == nil || !s.IsLeader {
			t.Fatalf("%s stopped leading %v after the cut: %+v", p.Name, time.Since(cutAt), s)
		} else if s.FailsafeActive {
			sawActive = true
		}
		if p.stoppedOrDemoted() {
			t.Fatalf("%s's server was stopped: %v", p.Name, p.describe())
		}
		cl := read(t, observer)
		if l := cl.Leader; l == nil {
			sawKeyGone = true
		} else if l.Name != p.Name {
			t.Fatalf("%s took the leader key while %s ran on failsafe confirmations", l.Name, p.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawActive || !sawKeyGone {
		t.Fatalf("failsafe active seen %v, leader key expired seen %v: the test did not test failsafe mode", sawActive, sawKeyGone)
	}
	p.Store.SetFault(memory.Fault{})
	testutil.Eventually(t, 3*ttl, func() error {
		cl := read(t, observer)
		if cl.Leader == nil || cl.Leader.Name != p.Name || cl.Leader.Revision == before {
			return fmt.Errorf("leader key %+v", cl.Leader)
		}
		if s := p.Controller.State(); !s.IsLeader || s.FailsafeActive || s.Term != cl.Leader.Revision {
			return fmt.Errorf("state: leader %v failsafe %v term %d", s.IsLeader, s.FailsafeActive, s.Term)
		}
		return nil
	}, "the primary took the key again")
	if p.stoppedOrDemoted() {
		t.Fatalf("%s's server was stopped: %v", p.Name, p.describe())
	}
	for _, nd := range nodes[1:] {
		if nd.events.has(failover.EventAcquired) {
			t.Errorf("%s acquired the leader key", nd.Name)
		}
	}
	if !p.events.has(failover.EventFailsafe) {
		t.Errorf("no failsafe event on %s: %v", p.Name, p.events.kinds())
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
			nodes, c := fsCluster(t, 3, tt.failsafe)
			observer := c.Store()
			p := nodes[0]
			ttl := failovertest.Settings().TTL
			if tt.refuse > 0 {
				nodes[tt.refuse].SetAPIReachable(false)
			}
			p.Store.SetFault(memory.Fault{Unavailable: true})
			cutAt := time.Now()
			term := read(t, observer).Leader.Revision
			var stoppedAt, otherAt time.Time
			stoppedWithKey := false
			testutil.Eventually(t, 4*ttl, func() error {
				if stoppedAt.IsZero() && p.stoppedOrDemoted() {
					stoppedAt = time.Now()
					cl := read(t, observer)
					stoppedWithKey = cl.Leader != nil && cl.Leader.Revision == term
				}
				if s := p.Controller.State(); s != nil && s.FailsafeActive {
					return fmt.Errorf("%s in failsafe mode without every member's confirmation", p.Name)
				}
				if cl := read(t, observer); cl.Leader != nil && cl.Leader.Name != p.Name && otherAt.IsZero() {
					otherAt = time.Now()
				}
				if stoppedAt.IsZero() {
					return fmt.Errorf("%s still runs its primary %v after the cut", p.Name, time.Since(cutAt))
				}
				return nil
			}, "the cut-off primary stops")
			if !otherAt.IsZero() && otherAt.Before(stoppedAt) {
				t.Fatalf("another member held the leader key at %v, before %s stopped at %v", otherAt.Sub(cutAt), p.Name, stoppedAt.Sub(cutAt))
			}
			if !stoppedWithKey {
				t.Errorf("%s stopped %v after the cut, when its leader key had already expired", p.Name, stoppedAt.Sub(cutAt))
			}
		})
	}
}

// TestAcceptFailsafeRefusals: a member that runs as primary refuses to
// confirm another (Running as a leader), and so does one whose fresh DCS
// view names a leader other than the caller; the leader's own confirmation
// request to a replica is accepted and answered with its WAL position.
func TestAcceptFailsafeRefusals(t *testing.T) {
	nodes, c := fsCluster(t, 2, true)
	p, r := nodes[0], nodes[1]
	ctx := t.Context()
	ask := func(to *fsNode, from string) (int64, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return healthapi.PostFailsafe(ctx, c.HTTPClient(), "http://"+to.Name+":8008/patroni", nil, healthapi.FailsafeRequest{Name: from, APIURL: "http://127.0.0.1:1/patroni"})
	}
	if _, err := ask(p, r.Name); !errors.Is(err, healthapi.ErrRunningAsLeader) {
		t.Errorf("the primary confirmed %s: %v", r.Name, err)
	}
	if _, err := ask(r, "n9"); !errors.Is(err, healthapi.ErrFailsafeRefused) {
		t.Errorf("a replica following %s confirmed n9: %v", p.Name, err)
	}
	lsn, err := ask(r, p.Name)
	if err != nil || lsn <= 0 {
		t.Errorf("a replica refused its own leader: lsn %d, %v", lsn, err)
	}
}
