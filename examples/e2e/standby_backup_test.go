package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
)

// TestStandbyClusterFromBackup: a standby cluster with no host at all,
// only standby_cluster.restore_command and create_replica_methods
// [restore]. Site A archives into a local directory and a base backup of
// it is taken; site B's first member is created by postgresql.restore (a
// no_leader command copying the base backup into its data directory),
// comes up as standby_leader replaying A's archive, and B's second member
// clones from it and cascades. Rows written on A after the backup, and
// after B is up, reach both B members through the archive.
func TestStandbyClusterFromBackup(t *testing.T) {
	scratch := testutil.TempDirFor(t, "postgres")
	archive, backup := filepath.Join(scratch, "archive"), filepath.Join(scratch, "backup")
	runAsPostgres(t, "/bin/mkdir", archive)
	a := newHarnessWith(t, func(o *localcluster.Options) {
		o.Nodes, o.EtcdMembers, o.Scope, o.NoHAProxy = 1, 1, "site-a", true
		o.Customize = archivingInto(archive)
	})
	ctx := a.ctx
	aLeader := a.waitHealthy(t)
	user, password := a.c.Credentials()
	runAsPostgres(t, filepath.Join(testutil.PGBinDir(t), "pg_basebackup"), "--pgdata="+backup, "--wal-method=stream", "--checkpoint=fast",
		"--dbname="+fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s", a.c.Node(aLeader).PGPort(), user, password))

	// Written after the backup: B gets these through the archive only.
	execSQL(t, ctx, a.c, aLeader, "CREATE TABLE fb1 AS SELECT g AS id FROM generate_series(1, 100) g")
	switchWAL := func() {
		t.Helper()
		var seg string
		if err := query(ctx, a.c, aLeader, "SELECT pg_walfile_name(pg_switch_wal())", &seg); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitTimeout, func() error {
			_, err := os.Stat(filepath.Join(archive, seg))
			return err
		}, "WAL segment %s archived", seg)
	}
	switchWAL()

	script, runs := filepath.Join(scratch, "restore.sh"), filepath.Join(scratch, "restore.runs")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
set -e
for a; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done
test -n "$d"
cp -a `+backup+`/. "$d"/
echo "$@" >> `+runs+`
`), 0o755); err != nil {
		t.Fatal(err)
	}
	p, bLeader := startStandbySite(t, a, archive, map[string]any{
		"restore_command":        fmt.Sprintf("cp %s/%%f %%p", archive),
		"create_replica_methods": []string{"restore"},
	}, func(_ int, cfg map[string]any) {
		cfg["postgresql"].(map[string]any)["restore"] = map[string]any{"command": "/bin/sh " + script, "no_leader": true}
	})
	b := p.b
	bReplica := p.otherB(bLeader)

	// Only the first member restores; the second clones from it with
	// its own methods (basebackup).
	if out, err := os.ReadFile(runs); err != nil || strings.Count(string(out), "\n") != 1 ||
		!strings.Contains(string(out), "--datadir="+b.Node(bLeader).DataDir()) || !strings.HasSuffix(string(out), "--connstring=\n") {
		t.Errorf("postgresql.restore ran as %q (%v), want once, for %s, without a connection string", out, err, bLeader)
	}

	var conninfo, restore string
	var inRecovery bool
	if err := query(ctx, b, bLeader, "SELECT current_setting('primary_conninfo'), current_setting('restore_command'), pg_is_in_recovery()", &conninfo, &restore, &inRecovery); err != nil {
		t.Fatal(err)
	}
	if conninfo != "" || restore != fmt.Sprintf("cp %s/%%f %%p", archive) || !inRecovery {
		t.Errorf("standby leader %s: primary_conninfo %q (want none), restore_command %q (want the archive's), in recovery %v", bLeader, conninfo, restore, inRecovery)
	}
	if err := query(ctx, b, bReplica, "SELECT current_setting('primary_conninfo')", &conninfo); err != nil {
		t.Fatal(err)
	}
	if want := "port='" + strconv.Itoa(b.Node(bLeader).PGPort()) + "'"; !strings.Contains(conninfo, want) {
		t.Errorf("replica %s does not cascade from the standby leader: %q", bReplica, conninfo)
	}
	var aSys, bSys string
	if err := query(ctx, a.c, aLeader, "SELECT system_identifier::text FROM pg_control_system()", &aSys); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Initialize != nil {
		bSys = *snap.Initialize
	}
	if bSys != aSys {
		t.Errorf("site B's initialize key %q, want site A's system identifier %s", bSys, aSys)
	}
	waitRows(t, ctx, b, "fb1", 100)

	// Written while B runs: replayed from the archive, then cascaded.
	execSQL(t, ctx, a.c, aLeader, "CREATE TABLE fb2 AS SELECT g AS id FROM generate_series(1, 50) g")
	switchWAL()
	waitRows(t, ctx, b, "fb2", 50)
}
