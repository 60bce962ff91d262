package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

// TestBootstrapFromBackupToRestorePoint is issue 19's "bootstrap from a
// base backup plus archive to a point in time". A source PostgreSQL
// archives into a local directory; a base backup is taken, rows 1-3 are
// written, a restore point is created, rows 4-5 are written and the WAL
// switched. A new pgha cluster is then bootstrapped with bootstrap.method
// running a script that restores the base backup, and recovery_conf
// replaying the archive to the restore point. The cluster comes up with a
// primary holding exactly rows 1-3, the source's system identifier in the
// initialize key, and a replica cloned from it.
func TestBootstrapFromBackupToRestorePoint(t *testing.T) {
	scratch := testutil.TempDirFor(t, "postgres")
	archive, backup := filepath.Join(scratch, "archive"), filepath.Join(scratch, "backup")
	src := startArchivingSource(t, scratch, archive)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	srcDSN := fmt.Sprintf("host=%s port=%d user=postgres password=source-secret dbname=postgres", src.SocketDir, src.Port)
	sql := func(q string, dst ...any) {
		t.Helper()
		c, err := pgx.Connect(ctx, srcDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if len(dst) == 0 {
			_, err = c.Exec(ctx, q)
		} else {
			err = c.QueryRow(ctx, q).Scan(dst...)
		}
		if err != nil {
			t.Fatalf("%s on the source: %v", q, err)
		}
	}
	sql("CREATE TABLE t (id int PRIMARY KEY)")
	runAsPostgres(t, filepath.Join(src.BinDir, "pg_basebackup"), "--pgdata="+backup, "--wal-method=stream", "--checkpoint=fast",
		"--dbname="+fmt.Sprintf("host=%s port=%d user=replicator password=source-repl", src.SocketDir, src.Port))
	sql("INSERT INTO t SELECT generate_series(1, 3)")
	sql("SELECT pg_create_restore_point('before_bad_change')")
	sql("INSERT INTO t SELECT generate_series(4, 5)")
	var seg, srcSysID string
	sql("SELECT pg_walfile_name(pg_switch_wal())", &seg)
	sql("SELECT system_identifier::text FROM pg_control_system()", &srcSysID)
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := os.Stat(filepath.Join(archive, seg))
		return err
	}, "WAL segment %s archived", seg)

	// The operator's restore script: what pgBackRest or WAL-G would do,
	// here a copy of the base backup into --datadir.
	script := filepath.Join(scratch, "restore.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
set -e
for a; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done
test -n "$d"
cp -a `+backup+`/. "$d"/
`), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.Nodes, o.EtcdMembers, o.NoHAProxy = 2, 1, true
		o.Customize = func(_ int, cfg map[string]any) {
			b := cfg["bootstrap"].(map[string]any)
			b["method"] = "from_backup"
			b["from_backup"] = map[string]any{
				"command": "/bin/sh " + script,
				"recovery_conf": map[string]any{
					"restore_command":      "cp " + archive + "/%f %p",
					"recovery_target_name": "before_bad_change",
				},
			}
		}
	})
	leader := h.waitHealthy(t)
	replica := h.replicaOf(t, leader)

	query := func(node, q string, dst ...any) error {
		qctx, qcancel := context.WithTimeout(h.ctx, 10*time.Second)
		defer qcancel()
		c, err := pgx.Connect(qctx, h.c.NodeDSN(node))
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		return c.QueryRow(qctx, q).Scan(dst...)
	}
	var n, maxID int
	var inRecovery bool
	if err := query(leader, "SELECT count(*)::int, max(id), pg_is_in_recovery() FROM t", &n, &maxID, &inRecovery); err != nil {
		t.Fatal(err)
	}
	if n != 3 || maxID != 3 || inRecovery {
		t.Fatalf("leader %s: %d rows up to %d, in recovery %v; want rows 1-3 on a primary", leader, n, maxID, inRecovery)
	}
	snap, err := h.c.Snapshot(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Initialize == nil || *snap.Initialize != srcSysID {
		t.Errorf("initialize key %v, want the source's system identifier %s", snap.Initialize, srcSysID)
	}
	if err := query(leader, "INSERT INTO t VALUES (100) RETURNING id", &n); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		var n int
		if err := query(replica, "SELECT count(*)::int FROM t WHERE id <= 3 OR id = 100", &n); err != nil {
			return err
		}
		if n != 4 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	}, "replica %s cloned from the restored primary and streaming", replica)
}

// startArchivingSource starts a standalone PostgreSQL (through pglocal,
// outside any pgha cluster) whose archive_command copies into archive.
func startArchivingSource(t *testing.T, scratch, archive string) pglocal.Config {
	t.Helper()
	if err := os.Mkdir(archive, 0o700); err != nil {
		t.Fatal(err)
	}
	chownPostgres(t, archive)
	cfg := pglocal.Config{
		Name: "source", Scope: "source", BinDir: testutil.PGBinDir(t),
		DataDir: filepath.Join(scratch, "source"), Port: testutil.FreePort(t), SocketDir: scratch,
		Superuser:   pglocal.Credentials{Password: "source-secret"},
		Replication: pglocal.Credentials{Password: "source-repl"},
		Parameters: map[string]string{
			"archive_mode": "on", "archive_command": "test ! -f " + archive + "/%f && cp %p " + archive + "/%f",
			"shared_buffers": "16MB", "max_connections": "20",
		},
		DisableFenceKeeper: true,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	l, err := pglocal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := l.Stop(sctx, pg.StopImmediate); err != nil {
			t.Errorf("stop the source: %v", err)
		}
	})
	if err := l.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	return l.Config()
}

// postgresIDs returns the uid and gid of the postgres OS user, or ok false
// when this process is not root (everything then runs as ourselves).
func postgresIDs(t *testing.T) (uid, gid int, ok bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, true
}

func chownPostgres(t *testing.T, path string) {
	t.Helper()
	if uid, gid, ok := postgresIDs(t); ok {
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// runAsPostgres runs a PostgreSQL tool as the postgres OS user.
func runAsPostgres(t *testing.T, prog string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = "/"
	if uid, gid, ok := postgresIDs(t); ok {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", filepath.Base(prog), err, out)
	}
}

// TestBootstrapMethodFailureExits: an agent whose bootstrap.method fails
// after restoring something does not leave the cluster stuck: it deletes
// the initialize key (another member or a restart may try again), moves
// the data directory aside instead of deleting it, and exits with the
// error.
func TestBootstrapMethodFailureExits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := localcluster.BuildAgent(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("build agent: %v", err)
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		AgentBin: bin, Nodes: 1, NoHAProxy: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Customize: func(_ int, cfg map[string]any) {
			b := cfg["bootstrap"].(map[string]any)
			b["method"] = "broken_restore"
			b["broken_restore"] = map[string]any{
				"command": `/bin/sh -c 'for a; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done; echo partial > "$d/restored"; echo "backup repository unreachable" >&2; exit 3' restore`,
			}
		},
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, c)
		}
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	node := c.Nodes()[0]
	testutil.Eventually(t, waitTimeout, func() error {
		if node.Running() {
			return fmt.Errorf("agent still running")
		}
		return nil
	}, "the agent exits after the failed bootstrap")
	log, err := os.ReadFile(node.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bootstrap failed", "backup repository unreachable"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("agent log lacks %q", want)
		}
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Initialize != nil {
		t.Errorf("initialize key %q left after the failed bootstrap", *snap.Initialize)
	}
	aside, _ := filepath.Glob(node.DataDir() + "_*")
	if len(aside) != 1 {
		t.Fatalf("data directories set aside: %v, want one", aside)
	}
	if data, err := os.ReadFile(filepath.Join(aside[0], "restored")); err != nil || strings.TrimSpace(string(data)) != "partial" {
		t.Errorf("the restore's file in %s: %q, %v", aside[0], data, err)
	}
	if entries, err := os.ReadDir(node.DataDir()); err == nil && len(entries) > 0 {
		t.Errorf("data directory %s not empty after being set aside", node.DataDir())
	}
}
