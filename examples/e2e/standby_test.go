package e2e_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
)

// standbyPair is a primary cluster (site A, harness h with HAProxy) and a
// standby cluster of it (site B) on the same etcd under their own scopes,
// sharing a WAL archive in a local directory: A archives into it, B's
// standby leader restores from it besides streaming from A's leader.
type standbyPair struct {
	a       *harness
	b       *localcluster.Cluster
	archive string
}

// newStandbyPair starts site A (two nodes, archiving) and site B (two
// nodes, bootstrap.dcs.standby_cluster pointing at A's leader) and waits
// until B has a standby leader and a streaming replica.
func newStandbyPair(t *testing.T) *standbyPair {
	t.Helper()
	archive := testutil.TempDirFor(t, "postgres")
	a := newHarnessWith(t, func(o *localcluster.Options) {
		o.Nodes, o.EtcdMembers, o.Scope = 2, 1, "site-a"
		o.Customize = archivingInto(archive)
	})
	leader := a.waitHealthy(t)
	p, _ := startStandbySite(t, a, archive, map[string]any{"host": "127.0.0.1", "port": a.c.Node(leader).PGPort(),
		"restore_command": fmt.Sprintf("cp %s/%%f %%p", archive)}, archivingInto(archive))
	return p
}

// archivingInto is a localcluster Customize that archives every member's
// WAL into the local directory archive (the operator's archive_command).
func archivingInto(archive string) func(int, map[string]any) {
	return func(_ int, cfg map[string]any) {
		params := cfg["postgresql"].(map[string]any)["parameters"].(map[string]any)
		params["archive_mode"] = "on"
		params["archive_command"] = fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", archive, archive)
	}
}

// startStandbySite starts site B: two nodes under scope site-b on a's
// etcd, with standbyCluster as bootstrap.dcs.standby_cluster and customize
// applied to each member's configuration; it waits until B has a standby
// leader and returns the pair and that leader.
func startStandbySite(t *testing.T, a *harness, archive string, standbyCluster map[string]any, customize func(int, map[string]any)) (*standbyPair, string) {
	t.Helper()
	start := time.Now()
	b, err := localcluster.Start(a.ctx, localcluster.Options{
		AgentBin: a.c.AgentBin(), Nodes: 2, Scope: "site-b", SharedFrom: a.c, NoHAProxy: true, Logger: a.log,
		KeepDir: os.Getenv("PGHA_E2E_KEEP") != "", Customize: customize,
		DCS: map[string]any{"standby_cluster": standbyCluster},
	})
	if err != nil {
		t.Fatalf("start the standby cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, b)
		}
		if err := b.Close(); err != nil {
			t.Errorf("close the standby cluster: %v", err)
		}
	})
	p := &standbyPair{a: a, b: b, archive: archive}
	bl := p.waitStandbyLeader(t, "")
	t.Logf("site B: %s is standby leader %v after start", bl, time.Since(start).Round(time.Millisecond))
	return p, bl
}

// otherB names the member of site B (a two-member cluster) other than name.
func (p *standbyPair) otherB(name string) string {
	for _, n := range p.b.Nodes() {
		if n.Name() != name {
			return n.Name()
		}
	}
	return ""
}

// waitStandbyLeader waits until B's leader key names a member other than
// not, published as a running standby_leader, with every other running
// member a running replica, and returns it.
func (p *standbyPair) waitStandbyLeader(t *testing.T, not string) string {
	t.Helper()
	var leader string
	testutil.Eventually(t, waitTimeout, func() error {
		cl, err := p.b.Snapshot(p.a.ctx)
		if err != nil {
			return err
		}
		lm := cl.LeaderMember()
		if lm == nil || lm.Name == not {
			return fmt.Errorf("leader %+v", cl.Leader)
		}
		if lm.Role != dcs.RoleStandbyLeader || lm.State != dcs.StateRunning {
			return fmt.Errorf("leader %s is %s, %s", lm.Name, lm.Role, lm.State)
		}
		for _, n := range p.b.Nodes() {
			if m := cl.Member(n.Name()); n.Running() && n.Name() != lm.Name && (m == nil || m.Role != dcs.RoleReplica || m.State != dcs.StateRunning) {
				return fmt.Errorf("member %s: %+v", n.Name(), m)
			}
		}
		leader = lm.Name
		return nil
	}, "site B has a standby leader")
	return leader
}

// query runs one row-returning statement on a node of c.
func query(ctx context.Context, c *localcluster.Cluster, node, sql string, dst ...any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(node))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dst...)
}

// waitRows waits until every running node of c has table with n rows.
func waitRows(t *testing.T, ctx context.Context, c *localcluster.Cluster, table string, n int) {
	t.Helper()
	for _, node := range c.Nodes() {
		if !node.Running() {
			continue
		}
		testutil.Eventually(t, waitTimeout, func() error {
			var got int
			if err := query(ctx, c, node.Name(), "SELECT count(*)::int FROM "+table, &got); err != nil {
				return err
			}
			if got != n {
				return fmt.Errorf("%d rows", got)
			}
			return nil
		}, "%s of %s has the %d rows of %s", node.Name(), c.Scope(), n, table)
	}
}

// TestStandbyClusterFailover: site B, a standby cluster of site A, is
// bootstrapped from A's leader; its standby leader follows A (with the
// archive's restore_command) and its replica cascades from it, the health
// API answers as for a standby leader. Killing B's standby leader makes
// the other member standby leader, following A, and data written on A
// afterwards arrives on it.
func TestStandbyClusterFailover(t *testing.T) {
	p := newStandbyPair(t)
	ctx := p.a.ctx
	aLeader := p.a.waitHealthy(t)
	bLeader := p.waitStandbyLeader(t, "")
	bReplica := p.otherB(bLeader)

	var conninfo, restore string
	if err := query(ctx, p.b, bLeader, "SELECT current_setting('primary_conninfo'), current_setting('restore_command')", &conninfo, &restore); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conninfo, portIn(p.a.c, aLeader)) || !strings.Contains(restore, p.archive) {
		t.Errorf("standby leader %s: primary_conninfo %q (want %s), restore_command %q (want the archive)", bLeader, conninfo, portIn(p.a.c, aLeader), restore)
	}
	if err := query(ctx, p.b, bReplica, "SELECT current_setting('primary_conninfo')", &conninfo); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conninfo, portIn(p.b, bLeader)) {
		t.Errorf("replica %s does not cascade from the standby leader: %q", bReplica, conninfo)
	}
	for path, want := range map[string]int{"/standby-leader": 200, "/standby_leader": 200, "/leader": 200, "/primary": 503, "/read-write": 503, "/master": 503} {
		if got, err := p.b.HealthStatus(ctx, bLeader, path); err != nil || got != want {
			t.Errorf("GET %s on the standby leader: %d (%v), want %d", path, got, err, want)
		}
	}

	execSQL(t, ctx, p.a.c, aLeader, "CREATE TABLE sb1 AS SELECT g AS id FROM generate_series(1, 100) g")
	waitRows(t, ctx, p.b, "sb1", 100)

	killedAt, err := p.b.KillNode(ctx, bLeader)
	if err != nil {
		t.Fatal(err)
	}
	next := p.waitStandbyLeader(t, bLeader)
	t.Logf("%s became standby leader %v after %s was killed", next, time.Since(killedAt).Round(time.Millisecond), bLeader)
	// The role is published with the leader key; the standby leader
	// re-points to the remote in the cycle that follows.
	testutil.Eventually(t, waitTimeout, func() error {
		if err := query(ctx, p.b, next, "SELECT current_setting('primary_conninfo')", &conninfo); err != nil {
			return err
		}
		if !strings.Contains(conninfo, portIn(p.a.c, aLeader)) {
			return fmt.Errorf("primary_conninfo %q", conninfo)
		}
		return nil
	}, "the new standby leader %s follows site A's leader", next)
	var inRecovery bool
	if err := query(ctx, p.b, next, "SELECT pg_is_in_recovery()", &inRecovery); err != nil || !inRecovery {
		t.Errorf("new standby leader %s: in recovery %v (%v), want a replica", next, inRecovery, err)
	}
	execSQL(t, ctx, p.a.c, aLeader, "CREATE TABLE sb2 AS SELECT g AS id FROM generate_series(1, 100) g")
	waitRows(t, ctx, p.b, "sb2", 100)
}

// TestStandbyClusterSiteSwitch: a planned switch of the primary site with
// a writer running, with pgha-ctl. Site A is demoted to a standby cluster
// of B's standby leader (`demote-cluster`: standby_cluster added through
// PATCH /config); once B's standby leader has replayed A's final position
// (the end of its shutdown checkpoint, as A's leader reports after
// restarting as a standby), B is promoted (`promote-cluster --wait-lsn`:
// standby_cluster removed). Every write acknowledged on A, and
// every one acknowledged on B afterwards, is on B's new primary, and A
// follows B.
func TestStandbyClusterSiteSwitch(t *testing.T) {
	p := newStandbyPair(t)
	ctx := p.a.ctx
	w := p.a.startWriter(t)
	bLeader := p.waitStandbyLeader(t, "")
	ctl := ctlRunner(t, ctx)

	demoteAt := time.Now()
	ctl(p.a.c, "demote-cluster", "--host", "127.0.0.1", "--port", strconv.Itoa(p.b.Node(bLeader).PGPort()),
		"--restore-command", fmt.Sprintf("cp %s/%%f %%p", p.archive), "--force")
	var aLeader string
	testutil.Eventually(t, waitTimeout, func() error {
		cl, err := p.a.c.Snapshot(ctx)
		if err != nil {
			return err
		}
		lm := cl.LeaderMember()
		if lm == nil || lm.Role != dcs.RoleStandbyLeader || lm.State != dcs.StateRunning {
			return fmt.Errorf("site A leader %+v", lm)
		}
		aLeader = lm.Name
		return nil
	}, "site A's primary is demoted to standby leader")
	t.Logf("site A demoted in %v", time.Since(demoteAt).Round(time.Millisecond))
	w.Stop()
	var final string
	if err := query(ctx, p.a.c, aLeader, "SELECT pg_last_wal_replay_lsn()::text", &final); err != nil {
		t.Fatal(err)
	}
	// promote-cluster --wait-lsn waits until B's standby leader has
	// replayed A's final position, then removes standby_cluster and waits
	// for the primary role.
	promoteAt := time.Now()
	ctl(p.b, "promote-cluster", "--wait-lsn", final, "--force")
	var replayed bool
	if err := query(ctx, p.b, bLeader, "SELECT pg_last_wal_replay_lsn() >= '"+final+"'::pg_lsn", &replayed); err != nil || !replayed {
		t.Errorf("site B's new primary %s did not replay site A's final position %s before its promotion (%v)", bLeader, final, err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		cl, err := p.b.Snapshot(ctx)
		if err != nil {
			return err
		}
		if lm := cl.LeaderMember(); lm == nil || lm.Role != dcs.RolePrimary || lm.State != dcs.StateRunning {
			return fmt.Errorf("site B leader %+v", lm)
		}
		return nil
	}, "site B is promoted")
	t.Logf("site B promoted in %v", time.Since(promoteAt).Round(time.Millisecond))

	// Writes continue on B; everything acknowledged anywhere is there.
	wb, err := p.b.StartWriter(ctx, localcluster.WriterOptions{DSN: p.b.NodeDSN(bLeader), Node: bLeader, Logger: p.a.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wb.Stop)
	testutil.Eventually(t, waitTimeout, func() error {
		if n := len(wb.Acks()); n < 20 {
			return fmt.Errorf("%d writes acknowledged on B", n)
		}
		return nil
	}, "writes on site B")
	wb.Stop()
	res, err := p.b.VerifyAcks(ctx, append(w.Acks(), wb.Acks()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writes: %d acknowledged on A, %d on B, %d found on %s, %d lost", len(w.Acks()), len(wb.Acks()), res.Found, res.Primary, res.Lost)
	checkNothingLost(t, res)
	if len(w.Acks()) == 0 {
		t.Fatal("no write acknowledged on site A")
	}

	// Site A follows B's new timeline: the rows written on B arrive.
	var bRows int
	if err := query(ctx, p.b, bLeader, "SELECT count(*)::int FROM pgha_writes", &bRows); err != nil {
		t.Fatal(err)
	}
	waitRows(t, ctx, p.a.c, "pgha_writes", bRows)
}

// ctlRunner builds pgha-ctl and returns a function running it against a
// cluster (with its first node's configuration), failing the test on an
// error.
func ctlRunner(t *testing.T, ctx context.Context) func(c *localcluster.Cluster, args ...string) {
	t.Helper()
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Minute)
	ctlBin, err := localcluster.BuildCtl(bctx, t.TempDir())
	bcancel()
	if err != nil {
		t.Fatal(err)
	}
	return func(c *localcluster.Cluster, args ...string) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		cmd := osexec.CommandContext(cctx, ctlBin, append([]string{"-c", c.Nodes()[0].ConfigPath()}, args...)...)
		out, err := cmd.CombinedOutput()
		t.Logf("pgha-ctl %s (%s):\n%s", strings.Join(args, " "), c.Scope(), out)
		if err != nil {
			t.Fatalf("pgha-ctl %s: %v", args[0], err)
		}
	}
}

// TestStandbyClusterSwitchover: `pgha-ctl switchover` inside site B, a
// two-member standby cluster of site A, moves the standby leader role to
// B's replica: it ends as the one standby leader, following A's leader,
// the old standby leader as its replica, cascading from it; no member of B
// ever publishes the primary role or leaves A's timeline, and rows written
// on A afterwards arrive on both members of B.
func TestStandbyClusterSwitchover(t *testing.T) {
	p := newStandbyPair(t)
	ctx := p.a.ctx
	aLeader := p.a.waitHealthy(t)
	bLeader := p.waitStandbyLeader(t, "")
	bReplica := p.otherB(bLeader)
	ctl := ctlRunner(t, ctx)
	execSQL(t, ctx, p.a.c, aLeader, "CREATE TABLE so1 AS SELECT g AS id FROM generate_series(1, 100) g")
	waitRows(t, ctx, p.b, "so1", 100)

	// Watch B's member keys throughout: a primary role, even briefly,
	// would be a promotion inside the standby cluster.
	wctx, wcancel := context.WithCancel(ctx)
	watched := make(chan []string, 1)
	go func() {
		var bad []string
		defer func() { watched <- bad }()
		for wctx.Err() == nil {
			if cl, err := p.b.Snapshot(wctx); err == nil {
				for _, m := range cl.Members {
					if m.Role == dcs.RolePrimary || m.Role == dcs.RoleMaster {
						bad = append(bad, m.Name+" published "+m.Role)
					}
				}
			}
			select {
			case <-wctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	stopWatch := func() []string {
		wcancel()
		return <-watched
	}
	t.Cleanup(func() { wcancel() })

	start := time.Now()
	ctl(p.b, "switchover", "--leader", bLeader, "--candidate", bReplica, "--force")
	next := p.waitStandbyLeader(t, bLeader)
	if next != bReplica {
		t.Fatalf("standby leader %s, want the candidate %s", next, bReplica)
	}
	t.Logf("%s became standby leader %v after pgha-ctl switchover started", next, time.Since(start).Round(time.Millisecond))

	var conninfo string
	testutil.Eventually(t, waitTimeout, func() error {
		if err := query(ctx, p.b, next, "SELECT current_setting('primary_conninfo')", &conninfo); err != nil {
			return err
		}
		if !strings.Contains(conninfo, portIn(p.a.c, aLeader)) {
			return fmt.Errorf("primary_conninfo %q", conninfo)
		}
		return nil
	}, "the new standby leader %s follows site A's leader", next)
	testutil.Eventually(t, waitTimeout, func() error {
		if err := query(ctx, p.b, bLeader, "SELECT current_setting('primary_conninfo')", &conninfo); err != nil {
			return err
		}
		if !strings.Contains(conninfo, portIn(p.b, next)) {
			return fmt.Errorf("primary_conninfo %q", conninfo)
		}
		return nil
	}, "the old standby leader %s cascades from %s", bLeader, next)

	execSQL(t, ctx, p.a.c, aLeader, "CREATE TABLE so2 AS SELECT g AS id FROM generate_series(1, 100) g")
	waitRows(t, ctx, p.b, "so2", 100)
	if bad := stopWatch(); len(bad) > 0 {
		t.Errorf("a member of the standby cluster ran as primary: %v", bad)
	}
	var aTL int
	if err := query(ctx, p.a.c, aLeader, "SELECT timeline_id FROM pg_control_checkpoint()", &aTL); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{bLeader, next} {
		var inRecovery bool
		var tl int
		if err := query(ctx, p.b, n, "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint())", &inRecovery, &tl); err != nil {
			t.Fatal(err)
		}
		if !inRecovery || tl != aTL {
			t.Errorf("%s: in recovery %v, timeline %d; want a replica on site A's timeline %d", n, inRecovery, tl, aTL)
		}
	}
	cl, err := p.b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cl.Failover.IsZero() {
		t.Errorf("failover key left behind: %+v", cl.Failover)
	}
}

// execSQL runs one statement on a node of c.
func execSQL(t *testing.T, ctx context.Context, c *localcluster.Cluster, node, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(node))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, node, err)
	}
}

// portIn is node's PostgreSQL port as primary_conninfo writes it.
func portIn(c *localcluster.Cluster, node string) string {
	return "port='" + strconv.Itoa(c.Node(node).PGPort()) + "'"
}
