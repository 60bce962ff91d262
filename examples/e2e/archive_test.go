package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
)

// TestArchiveRecoveryConfAndNoStream runs the agent with a WAL archive in
// a local directory: archive_mode and archive_command are the operator's
// postgresql.parameters, restore_command comes from patroni.yml's
// postgresql.recovery_conf and is written only on replicas. Then the
// replica is tagged nostream (the agent restarts with the new tag): it
// drops its WAL receiver and follows through the archive only.
func TestArchiveRecoveryConfAndNoStream(t *testing.T) {
	archive := testutil.TempDirFor(t, "postgres")
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.Nodes, o.EtcdMembers, o.NoHAProxy = 2, 1, true
		o.Customize = func(_ int, cfg map[string]any) {
			archivingInto(archive)(0, cfg)
			cfg["postgresql"].(map[string]any)["recovery_conf"] = map[string]any{"restore_command": fmt.Sprintf("cp %s/%%f %%p", archive)}
		}
	})
	leader := h.waitHealthy(t)
	replica := h.replicaOf(t, leader)

	query := func(node, sql string, dst ...any) error {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, h.c.NodeDSN(node))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.QueryRow(ctx, sql).Scan(dst...)
	}
	exec := func(node, sql string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, h.c.NodeDSN(node))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s on %s: %v", sql, node, err)
		}
	}
	var rc string
	if err := query(replica, "SELECT current_setting('restore_command')", &rc); err != nil || !strings.Contains(rc, archive) {
		t.Fatalf("restore_command on the replica %q (%v), want the one from postgresql.recovery_conf", rc, err)
	}
	if err := query(leader, "SELECT current_setting('restore_command')", &rc); err != nil || rc != "" {
		t.Fatalf("restore_command on the primary %q (%v), want none", rc, err)
	}

	if err := h.c.SetTags(h.ctx, replica, map[string]any{"nostream": true}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		var conninfo string
		var receivers int
		if err := query(replica, "SELECT current_setting('primary_conninfo'), (SELECT count(*) FROM pg_stat_wal_receiver)::int", &conninfo, &receivers); err != nil {
			return err
		}
		if conninfo != "" || receivers != 0 {
			return fmt.Errorf("primary_conninfo %q, %d WAL receivers", conninfo, receivers)
		}
		snap, err := h.c.Snapshot(h.ctx)
		if err != nil {
			return err
		}
		if m := snap.Member(replica); m == nil || m.ReplicationState != dcs.ReplicationArchiveRecovery {
			return fmt.Errorf("member key of %s: %+v", replica, m)
		}
		return nil
	}, "%s tagged nostream stops streaming", replica)

	exec(leader, "CREATE TABLE arch AS SELECT g AS id FROM generate_series(1, 1000) g")
	// Only complete segments are archived.
	exec(leader, "SELECT pg_switch_wal()")
	testutil.Eventually(t, waitTimeout, func() error {
		var n int
		if err := query(replica, "SELECT count(*)::int FROM arch", &n); err != nil {
			return err
		}
		if n != 1000 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	}, "%s catches up through the archive", replica)
	entries, err := os.ReadDir(archive)
	if err != nil || len(entries) == 0 {
		t.Fatalf("archive %s: %d entries, %v", archive, len(entries), err)
	}
}
