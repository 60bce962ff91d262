package failover_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

// newArchiveCluster is newITCluster (one etcd member, to spare the CPU)
// whose members archive WAL into a local directory and read it back:
// archive_mode and archive_command are ordinary postgresql.parameters (the
// operator's), restore_command is postgresql.recovery_conf (written only
// while a member is a replica). wal_keep_size 0: the primary keeps only
// the WAL a slot holds.
func newArchiveCluster(t *testing.T, n int, tags map[string]dcs.Tags) (*itCluster, string) {
	t.Helper()
	ec := testutil.StartEtcd(t, 1)
	c := &itCluster{t: t, etcd: ec, rec: &recorder{}, settings: failover.DefaultSettings(), logs: newLogTail(t)}
	c.settings.UsePgRewind = true
	c.admin = newStore(t, ec.Endpoint(0))
	archive := testutil.TempDirFor(t, "postgres")
	params := maps.Clone(itParams)
	params["archive_mode"] = "on"
	params["archive_command"] = fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", archive, archive)
	params["wal_keep_size"] = "0"
	params["min_wal_size"] = "32MB"
	params["max_wal_size"] = "64MB"
	params["archive_timeout"] = "0"
	bin := testutil.PGBinDir(t)
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dir := testutil.TempDirFor(t, "postgres")
		ports := testutil.FreePorts(t, 2)
		inst, err := pglocal.New(pglocal.Config{
			Name: name, Scope: itScope, BinDir: bin, DataDir: filepath.Join(dir, "data"), Port: ports[0], SocketDir: dir,
			Superuser: pglocal.Credentials{Password: suPassword}, Replication: pglocal.Credentials{Password: "repl-secret"},
			Parameters:   params,
			RecoveryConf: map[string]string{"restore_command": fmt.Sprintf("cp %s/%%f %%p", archive)},
			Logger:       itLogger(t, c.logs).With("pg", name),
		})
		if err != nil {
			t.Fatalf("NewLocal(%s): %v", name, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = inst.Stop(ctx, pg.StopImmediate)
		})
		proxy := testutil.NewProxy(t, strings.TrimPrefix(ec.Endpoint(0), "http://"))
		c.nodes = append(c.nodes, &node{name: name, inst: inst, apiPort: ports[1], proxy: proxy, store: newStore(t, proxy.URL()), tags: tags[name]})
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.stop(failover.ExitAbandon)
		}
	})
	return c, archive
}

// queryOn runs a one-row query on nd and scans it into dst.
func queryOn(t *testing.T, nd *node, sql string, dst ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, nd)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", nd.name, err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, sql).Scan(dst...); err != nil {
		return fmt.Errorf("%s on %s: %w", sql, nd.name, err)
	}
	return nil
}

// switchSegments writes some rows and switches to a new WAL segment k
// times on the primary, so that complete segments reach the archive.
func switchSegments(t *testing.T, primary *node, k int) {
	t.Helper()
	for range k {
		execSQL(t, primary, "INSERT INTO arch SELECT g, 'x' FROM generate_series(1, 200) g")
		execSQL(t, primary, "SELECT pg_switch_wal()")
	}
}

// (a) A replica whose slot was dropped while it was down, and whose WAL
// the primary has since removed, catches up from the archive
// (restore_command) and streams again: the Controller does not re-clone
// it while it replays from the archive.
func TestArchiveReplicaCatchesUpAfterSlotDropped(t *testing.T) {
	c, archive := newArchiveCluster(t, 2, nil)
	c.start(c.nodes[0])
	leader := c.waitHealthy(t, 90*time.Second, "n2")
	if leader.name != "n1" {
		t.Fatalf("leader %s, want n1", leader.name)
	}
	c.start(c.nodes[1])
	c.waitHealthy(t, 120*time.Second)
	repl := c.node("n2")
	execSQL(t, leader, "CREATE TABLE arch (id int, v text)")
	var sysBefore int64
	if err := queryOn(t, repl, "SELECT system_identifier FROM pg_control_system()", &sysBefore); err != nil {
		t.Fatal(err)
	}

	// Take the replica down (agent and server) and drop its slot.
	repl.stop(failover.ExitAbandon)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := repl.inst.Stop(ctx, pg.StopFast); err != nil {
		t.Fatal(err)
	}
	slot := pg.SlotName("n2")
	var next string
	testutil.Eventually(t, 20*time.Second, func() error {
		// The segment after the one the replica stopped in: the replica
		// has none of it.
		if err := queryOn(t, leader, fmt.Sprintf(
			"SELECT pg_walfile_name(restart_lsn + 16777216::numeric) FROM pg_replication_slots WHERE slot_name = '%s' AND restart_lsn IS NOT NULL", slot), &next); err != nil {
			return err
		}
		var dropped bool
		return queryOn(t, leader, fmt.Sprintf("SELECT pg_drop_replication_slot('%s') IS NULL", slot), &dropped)
	}, "drop the replica's slot %s on the leader", slot)
	t0 := time.Now()

	// Make the primary remove that WAL: new segments, archived, then
	// checkpoints with nothing holding the old ones.
	testutil.Eventually(t, 60*time.Second, func() error {
		// The leader re-creates the slot of a member whose key it still
		// sees (at its current position, so it holds none of the WAL the
		// replica lacks, but it holds what comes after): drop it again.
		var drops int
		if err := queryOn(t, leader, fmt.Sprintf(
			"SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = '%s' AND NOT active", slot), &drops); err != nil {
			return err
		}
		switchSegments(t, leader, 3)
		var archived string
		if err := queryOn(t, leader, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", &archived); err != nil {
			return err
		}
		if archived < next {
			return fmt.Errorf("archiver at %q, not yet past %s", archived, next)
		}
		execSQL(t, leader, "CHECKPOINT")
		var present int
		if err := queryOn(t, leader, fmt.Sprintf("SELECT count(*) FROM pg_ls_waldir() WHERE name = '%s'", next), &present); err != nil {
			return err
		}
		if present != 0 {
			var redo, slots string
			_ = queryOn(t, leader, "SELECT redo_wal_file, (SELECT coalesce(string_agg(slot_name || ':' || coalesce(restart_lsn::text, '-'), ','), '') FROM pg_replication_slots) FROM pg_control_checkpoint()", &redo, &slots)
			return fmt.Errorf("%s still in the leader's pg_wal (checkpoint redo in %s, slots %q)", next, redo, slots)
		}
		return nil
	}, "the leader removes WAL segment %s", next)
	if _, err := os.Stat(filepath.Join(archive, next)); err != nil {
		t.Fatalf("segment %s not in the archive: %v", next, err)
	}
	var want int
	if err := queryOn(t, leader, "SELECT count(*) FROM arch", &want); err != nil {
		t.Fatal(err)
	}
	// Streaming alone cannot bring the replica back now.
	c.start(repl)
	c.waitHealthy(t, 90*time.Second)
	testutil.Eventually(t, 30*time.Second, func() error {
		var got int
		if err := queryOn(t, repl, "SELECT count(*) FROM arch", &got); err != nil {
			return err
		}
		if got < want {
			return fmt.Errorf("replica has %d rows, want %d", got, want)
		}
		return nil
	}, "the replica catches up")

	var sysAfter int64
	if err := queryOn(t, repl, "SELECT system_identifier FROM pg_control_system()", &sysAfter); err != nil {
		t.Fatal(err)
	}
	if sysAfter != sysBefore {
		t.Errorf("system identifier %d, was %d: the replica was re-created", sysAfter, sysBefore)
	}
	if e, ok := c.rec.first("n2", failover.EventCloned, t0); ok {
		t.Errorf("the replica was re-cloned: %+v", e)
	}
	logData, err := os.ReadFile(repl.inst.Config().LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logData), fmt.Sprintf("restored log file %q from archive", next)) {
		t.Errorf("the replica's log does not show %s restored from the archive", next)
	}
	var rc string
	if err := queryOn(t, repl, "SELECT current_setting('restore_command')", &rc); err != nil || !strings.Contains(rc, archive) {
		t.Errorf("restore_command on the replica = %q (%v)", rc, err)
	}
	if err := queryOn(t, leader, "SELECT current_setting('restore_command')", &rc); err != nil || rc != "" {
		t.Errorf("restore_command on the primary = %q (%v), want none: recovery_conf is for replicas", rc, err)
	}
}

// (c) A member tagged nostream has no primary_conninfo, no WAL receiver
// and no slot: it follows the leader through the archive only, and
// catches up.
func TestArchiveNoStreamReplica(t *testing.T) {
	c, _ := newArchiveCluster(t, 2, map[string]dcs.Tags{"n2": {dcs.TagNoStream: true}})
	c.start(c.nodes[0])
	leader := c.waitHealthy(t, 90*time.Second, "n2")
	execSQL(t, leader, "CREATE TABLE arch (id int, v text)")
	ns := c.node("n2")
	c.start(ns)
	testutil.Eventually(t, 120*time.Second, func() error {
		s := ns.state()
		if s == nil || s.Role != dcs.RoleReplica || s.PGState != dcs.StateRunning {
			return fmt.Errorf("n2 not a running replica: %+v", brief(s))
		}
		if s.ReplicationState != dcs.ReplicationArchiveRecovery {
			return fmt.Errorf("n2 replication state %q, want %q", s.ReplicationState, dcs.ReplicationArchiveRecovery)
		}
		return nil
	}, "n2 runs as a replica in archive recovery")

	switchSegments(t, leader, 2)
	var want int
	if err := queryOn(t, leader, "SELECT count(*) FROM arch", &want); err != nil {
		t.Fatal(err)
	}
	execSQL(t, leader, "SELECT pg_switch_wal()")
	testutil.Eventually(t, 60*time.Second, func() error {
		var got int
		if err := queryOn(t, ns, "SELECT count(*) FROM arch", &got); err != nil {
			return err
		}
		if got < want {
			return fmt.Errorf("n2 has %d rows, want %d", got, want)
		}
		return nil
	}, "the nostream replica catches up through the archive")

	var conninfo, slotName string
	var receivers, slots int
	if err := queryOn(t, ns, "SELECT current_setting('primary_conninfo'), current_setting('primary_slot_name'), (SELECT count(*) FROM pg_stat_wal_receiver)",
		&conninfo, &slotName, &receivers); err != nil {
		t.Fatal(err)
	}
	if conninfo != "" || slotName != "" || receivers != 0 {
		t.Errorf("nostream replica: primary_conninfo %q, primary_slot_name %q, %d WAL receivers; want none", conninfo, slotName, receivers)
	}
	if err := queryOn(t, leader, fmt.Sprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", pg.SlotName("n2")), &slots); err != nil {
		t.Fatal(err)
	}
	if slots != 0 {
		t.Errorf("the leader keeps a slot for the nostream member")
	}
	// Its member key carries a position (replay; no receive LSN) that
	// candidate selection reads.
	m := c.cluster(t).Member("n2")
	if m == nil || m.XLogLocation == nil || *m.XLogLocation == 0 || m.ReplicationState != dcs.ReplicationArchiveRecovery {
		t.Errorf("member key of n2: %+v", m)
	}
}
