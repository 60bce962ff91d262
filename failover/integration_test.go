package failover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestControllerIntegration runs three Controllers against a real
// 3-member etcd and three real PostgreSQL 15 servers, and drives them
// through bootstrap, a switchover under write load, a crash of the
// primary's PostgreSQL (restart in place, then failover with
// primary_start_timeout 0), an abrupt stop of the primary's agent, and a
// partition of the primary from etcd. The subtests share one cluster and
// run in order; each starts from a healthy cluster.
func TestControllerIntegration(t *testing.T) {
	c := newITCluster(t, 3)
	for _, nd := range c.nodes {
		c.start(nd)
	}

	if !t.Run("bootstrap", func(t *testing.T) {
		leader := c.waitHealthy(t, 120*time.Second)
		cl := c.cluster(t)
		if cl.Initialize == nil || len(*cl.Initialize) < 10 {
			t.Fatalf("initialize key: %v", cl.Initialize)
		}
		if cl.Config == nil || cl.Config.TTL == nil || *cl.Config.TTL != c.settings.TTL.Seconds() {
			t.Fatalf("config key not written from settings: %+v", cl.Config)
		}
		for _, nd := range c.nodes {
			m := cl.Member(nd.name)
			if m == nil {
				t.Fatalf("no member key for %s", nd.name)
			}
			wantRole := dcs.RoleReplica
			if nd == leader {
				wantRole = dcs.RolePrimary
			}
			if m.ConnURL == "" || !strings.HasSuffix(m.APIURL, "/patroni") || m.State != dcs.StateRunning || m.Role != wantRole ||
				m.XLogLocation == nil || m.Timeline == nil || m.Version == "" {
				t.Errorf("member key of %s lacks Patroni fields: %s", nd.name, m.Encode())
			}
			if wantRole == dcs.RoleReplica && (m.ReceiveLSN == nil || m.ReplicationState != dcs.ReplicationStreaming) {
				t.Errorf("replica member key of %s: %s", nd.name, m.Encode())
			}
		}
		if cl.Status == nil || cl.Status.Optime == 0 {
			t.Errorf("status key: %+v", cl.Status)
		}
		// GET /patroni of a replica is what peers read.
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/patroni", c.nodes[0].apiPort))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if doc["state"] != "running" {
			t.Errorf("GET /patroni: %v", doc)
		}
		execSQL(t, leader, "CREATE TABLE acked (id bigint PRIMARY KEY)")
	}) {
		return
	}

	if !t.Run("switchover through the failover key loses nothing", func(t *testing.T) {
		old := c.waitHealthy(t, 60*time.Second)
		cand := c.otherThan(old)
		w := c.startWriter(t)
		testutil.Eventually(t, 30*time.Second, func() error {
			if n := w.count(); n < 50 {
				return fmt.Errorf("%d rows acknowledged", n)
			}
			return nil
		}, "writer running")
		start := time.Now()
		body := fmt.Sprintf(`{"leader":%q,"candidate":%q}`, old.name, cand.name)
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/switchover", old.apiPort), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg := readAll(resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /switchover: %d %s", resp.StatusCode, msg)
		}
		t.Logf("switchover %s -> %s answered in %v: %s", old.name, cand.name, time.Since(start), msg)
		leader := c.waitHealthy(t, 60*time.Second)
		if leader != cand {
			t.Fatalf("leader is %s, want %s", leader.name, cand.name)
		}
		before := w.count()
		testutil.Eventually(t, 30*time.Second, func() error {
			if n := w.count(); n < before+50 {
				return fmt.Errorf("%d rows acknowledged, %d before", n, before)
			}
			return nil
		}, "writes on the new primary")
		w.stop()
		if miss := w.missing(t, leader); len(miss) > 0 {
			t.Fatalf("%d acknowledged rows lost on %s: %v", len(miss), leader.name, head(miss))
		}
		if cl := c.cluster(t); !cl.Failover.IsZero() {
			t.Errorf("failover key not cleared: %+v", cl.Failover)
		}
		t.Logf("switchover: %d acknowledged rows, none lost; cluster healthy %v after the request", w.count(), time.Since(start))
	}) {
		return
	}

	if !t.Run("crashed primary postgres is restarted in place", func(t *testing.T) {
		leader := c.waitHealthy(t, 60*time.Second)
		start := time.Now()
		killPostmaster(t, leader)
		testutil.Eventually(t, 60*time.Second, func() error {
			if s := leader.state(); s == nil || !s.PostmasterStartTime.After(start) {
				return fmt.Errorf("%s: postmaster not restarted yet: %s", leader.name, brief(s))
			}
			return nil
		}, "restart of %s's postmaster", leader.name)
		got := c.waitHealthy(t, 60*time.Second)
		if got != leader {
			t.Fatalf("leader moved to %s; want %s restarted in place (primary_start_timeout %v)", got.name, leader.name, c.settings.PrimaryStartTimeout)
		}
		t.Logf("primary %s restarted in place; healthy again %v after SIGKILL", leader.name, time.Since(start))
	}) {
		return
	}

	if !t.Run("crashed primary fails over with primary_start_timeout 0", func(t *testing.T) {
		leader := c.waitHealthy(t, 60*time.Second)
		c.patchConfig(t, leader, func(cfg *dcs.ClusterConfig) {
			zero := 0.0
			cfg.PrimaryStartTimeout = &zero
		})
		start := time.Now()
		killPostmaster(t, leader)
		promoted := c.waitPromotedOther(t, leader, start, 60*time.Second)
		t.Logf("postgres crash on %s: %s promoted %v after SIGKILL", leader.name, promoted.Member, promoted.Time.Sub(start))
		c.waitHealthy(t, 90*time.Second)
		c.patchConfig(t, c.waitHealthy(t, 30*time.Second), func(cfg *dcs.ClusterConfig) {
			v := c.settings.PrimaryStartTimeout.Seconds()
			cfg.PrimaryStartTimeout = &v
		})
	}) {
		return
	}

	if !t.Run("abruptly stopped primary agent: its PostgreSQL is fenced before a replica is promoted", func(t *testing.T) {
		leader := c.waitHealthy(t, 60*time.Second)
		// The agent goes away without resign, revoke or stop, as a crash
		// or a freeze would; PostgreSQL is left running under write load.
		// The fence keeper (pglocal.Local's out-of-agent fence) stops it at the
		// term's deadline, before the lease can expire: the replicas stop
		// receiving WAL, and one is promoted only after that.
		execSQL(t, leader, "CREATE TABLE IF NOT EXISTS load (v timestamptz)")
		stopLoad := startLoad(t, leader)
		start := time.Now()
		leader.stop(failover.ExitAbandon)
		var fencedAt time.Time
		testutil.Eventually(t, 30*time.Second, func() error {
			if leader.inst.State() == pg.StateRunning {
				return fmt.Errorf("%s's PostgreSQL still runs %v after its agent went away", leader.name, time.Since(start))
			}
			fencedAt = time.Now()
			return nil
		}, "fenced by the keeper")
		promoted := c.waitPromotedOther(t, leader, start, 60*time.Second)
		stopLoad()
		if !fencedAt.Before(promoted.Time) {
			t.Errorf("%s was promoted at %v, before the old primary's PostgreSQL was seen stopped at %v",
				promoted.Member, promoted.Time.Sub(start), fencedAt.Sub(start))
		}
		t.Logf("agent of %s gone under write load: PostgreSQL fenced within %v, %s promoted %v later (ttl %v)",
			leader.name, fencedAt.Sub(start), promoted.Member, promoted.Time.Sub(start), c.settings.TTL)
		c.start(leader) // the old node comes back: it must demote and rejoin
		c.waitHealthy(t, 90*time.Second)
	}) {
		return
	}

	if !t.Run("primary partitioned from etcd stops writes before a replica promotes", func(t *testing.T) {
		leader := c.waitHealthy(t, 60*time.Second)
		start := time.Now()
		leader.proxy.Blackhole()
		promoted := c.waitPromotedOther(t, leader, start, 60*time.Second)
		fenced, ok := c.rec.first(leader.name, failover.EventFenced, start)
		if !ok {
			t.Fatalf("%s never fenced itself", leader.name)
		}
		demoted, ok := c.rec.first(leader.name, failover.EventDemoted, start)
		if !ok {
			t.Fatalf("%s never demoted", leader.name)
		}
		if !fenced.Time.Before(promoted.Time) || !demoted.Time.Before(promoted.Time) {
			t.Fatalf("ordering: %s fenced at %v and demoted at %v, %s promoted at %v", leader.name,
				fenced.Time.Sub(start), demoted.Time.Sub(start), promoted.Member, promoted.Time.Sub(start))
		}
		t.Logf("partition of %s: fenced %v, PostgreSQL demoted %v, %s promoted %v after the partition began",
			leader.name, fenced.Time.Sub(start), demoted.Time.Sub(start), promoted.Member, promoted.Time.Sub(start))
		leader.proxy.Pass()
		leader.proxy.CutConnections()
		c.waitHealthy(t, 90*time.Second)
	}) {
		return
	}

	t.Run("reinitialize re-clones a replica", func(t *testing.T) {
		leader := c.waitHealthy(t, 60*time.Second)
		replica := c.otherThan(leader)
		start := time.Now()
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/reinitialize", replica.apiPort), "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if msg := readAll(resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /reinitialize: %d %s", resp.StatusCode, msg)
		}
		testutil.Eventually(t, 60*time.Second, func() error {
			if s := replica.state(); s == nil || !s.PostmasterStartTime.After(start) {
				return fmt.Errorf("%s not re-cloned and started yet: %s", replica.name, brief(s))
			}
			return nil
		}, "re-clone of %s", replica.name)
		c.waitHealthy(t, 60*time.Second)
		t.Logf("%s reinitialized and streaming again %v after the request", replica.name, time.Since(start))
	})
}

func (c *itCluster) otherThan(n *node) *node {
	for _, nd := range c.nodes {
		if nd != n {
			return nd
		}
	}
	c.t.Fatal("no other node")
	return nil
}

// waitPromotedOther waits for a promotion event on a node other than old.
func (c *itCluster) waitPromotedOther(t testing.TB, old *node, since time.Time, timeout time.Duration) failover.Event {
	t.Helper()
	var ev failover.Event
	testutil.Eventually(t, timeout, func() error {
		for _, nd := range c.nodes {
			if nd == old {
				continue
			}
			if e, ok := c.rec.first(nd.name, failover.EventPromoted, since); ok {
				ev = e
				return nil
			}
		}
		return fmt.Errorf("no promotion yet")
	}, "a replica of %s promoted", old.name)
	return ev
}

// patchConfig edits the config key through a Controller's Manager (CAS).
func (c *itCluster) patchConfig(t testing.TB, via *node, edit func(*dcs.ClusterConfig)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctrl := via.controller()
	cur, err := ctrl.ReadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := dcs.DecodeConfig(cur.Data)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if err := ctrl.WriteConfig(ctx, cfg.Encode(), cur.ModRevision); err != nil {
		t.Fatal(err)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func head(ids []int64) []int64 {
	if len(ids) > 10 {
		return ids[:10]
	}
	return ids
}
