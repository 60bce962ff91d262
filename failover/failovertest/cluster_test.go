package failovertest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/pg/pgtest"
)

// settleTimeout is generous: bootstrap, two clones and a few loop cycles
// take a second or two, but -race on a loaded machine is slow.
const settleTimeout = 20 * time.Second

// eventually polls cond until it returns nil or timeout elapses.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// TestClusterElectsOneLeader: three nodes settle with the bootstrapping
// node leading and the others streaming from it; WAL written on the
// primary reaches them, and the peer API answers through the in-process
// transport.
func TestClusterElectsOneLeader(t *testing.T) {
	c := failovertest.NewCluster(t, failovertest.Options{})
	l, err := c.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "n1" {
		t.Errorf("leader %s, want the bootstrapping node n1", l.Name)
	}
	if got := len(c.Nodes()); got != failovertest.DefaultNodes {
		t.Fatalf("%d nodes, want %d", got, failovertest.DefaultNodes)
	}
	commit, err := l.Server.Commit(100)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the commit reaches every replica", func() error {
		for _, n := range c.Nodes() {
			if !n.Server.Has(commit) {
				return fmt.Errorf("%s lacks %v", n.Name, commit)
			}
		}
		return nil
	})
	// The address a peer would query, through the client the Controllers
	// use; a replica answers 200 on /replica.
	r := c.Node("n2")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://n2:8008/replica", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /replica on %s: %s", r.Name, resp.Status)
	}
}

// TestLeaderCrashFailsOver: in synchronous mode, the leader's host dies
// (agent and server together) while commits are acknowledged; another
// node takes over within a few TTLs and holds every acknowledged commit.
func TestLeaderCrashFailsOver(t *testing.T) {
	s := failovertest.Settings()
	s.SynchronousMode = failover.SyncOn
	c := failovertest.NewCluster(t, failovertest.Options{Settings: s})
	old, err := c.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	// Commits are acknowledged only once the leader has named a
	// synchronous standby; before that an acknowledged commit could be
	// lost legitimately.
	if _, err := c.WaitSync(settleTimeout); err != nil {
		t.Fatal(err)
	}
	var acked []*pgtest.Commit
	for range 5 {
		cm, err := old.Commit(100, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, cm)
	}
	// One more commit in flight when the host dies: its outcome is
	// unknown, and must not count as lost.
	if _, err := old.Server.Commit(100); err != nil {
		t.Fatal(err)
	}
	if err := old.Crash(); err != nil {
		t.Fatalf("stop %s: %v", old.Name, err)
	}
	crashed := time.Now()
	ttl := s.TTL
	nl, err := c.WaitLeader(4 * ttl)
	if err != nil {
		t.Fatal(err)
	}
	if nl == old {
		t.Fatalf("%s still leads after its crash", old.Name)
	}
	t.Logf("%s leads %v after %s crashed", nl.Name, time.Since(crashed).Round(time.Millisecond), old.Name)
	if lost := c.Network().LostCommits(nl.Server); len(lost) > 0 {
		t.Fatalf("new leader %s lost acknowledged commits %v", nl.Name, lost)
	}
	for _, cm := range acked {
		if !nl.Server.Has(cm) {
			t.Errorf("%s lacks acknowledged %v", nl.Name, cm)
		}
	}
}

// TestStartErrors: bad options fail Start with an error, and what was
// started is released.
func TestStartErrors(t *testing.T) {
	if _, err := failovertest.Start(t.Context(), failovertest.Options{Nodes: -1}); err == nil {
		t.Error("Start accepted Nodes -1")
	}
	bad := failovertest.Options{Nodes: 2, Configure: func(i int, o *failover.ControllerOptions) {
		if i == 1 {
			o.APIURL = "not a URL"
		}
	}}
	if _, err := failovertest.Start(t.Context(), bad); err == nil {
		t.Error("Start accepted a bad APIURL")
	}
}
