package pglocal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// pitrSource is a primary archiving into a local directory, a base backup
// of it, and a restore point: rows 1-3 were committed before the restore
// point "rp", rows 4-5 after it, and the WAL holding them is archived.
type pitrSource struct {
	backup, archive string
}

func newPITRSource(t *testing.T) pitrSource {
	t.Helper()
	ctx := ctxT(t, 120*time.Second)
	scratch := testutil.TempDirFor(t, "postgres")
	s := pitrSource{backup: filepath.Join(scratch, "backup"), archive: filepath.Join(scratch, "archive")}
	if err := os.Mkdir(s.archive, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "src")
	// Another superuser password than the restored cluster's agent uses:
	// Bootstrap must make the restored roles its own.
	cfg.Superuser.Password = "source-secret"
	cfg.Parameters = maps.Clone(testParams)
	cfg.Parameters["archive_mode"] = "on"
	cfg.Parameters["archive_command"] = "test ! -f " + s.archive + "/%f && cp %p " + s.archive + "/%f"
	src := newLocal(t, cfg)
	if err := src.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.archive, int(src.uid), int(src.gid)); err != nil && src.runAs {
		t.Fatal(err)
	}
	mustExec(t, src, "CREATE TABLE t (id int)")
	dsn := conninfo("host", cfg.SocketDir, "port", fmt.Sprint(cfg.Port), "user", src.cfg.Replication.Username)
	if out, err := src.run(ctx, []string{"PGPASSWORD=" + src.cfg.Replication.Password}, "pg_basebackup",
		"--pgdata="+s.backup, "--wal-method=stream", "--checkpoint=fast", "--no-password", "--dbname="+dsn); err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	mustExec(t, src, "INSERT INTO t SELECT generate_series(1, 3)")
	mustExec(t, src, "SELECT pg_create_restore_point('rp')")
	mustExec(t, src, "INSERT INTO t SELECT generate_series(4, 5)")
	c := sqlConn(t, src)
	var seg string
	if err := c.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := os.Stat(filepath.Join(s.archive, seg))
		return err
	}, "segment %s archived", seg)
	return s
}

// copyCommand restores the base backup into the --datadir argument.
func (s pitrSource) copyCommand(extra string) []string {
	script := `for a; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done; cp -a ` + s.backup + `/. "$d"/` + extra
	return []string{"/bin/sh", "-c", script, "restore"}
}

func TestCustomBootstrap(t *testing.T) {
	src := newPITRSource(t)
	restoreCommand := "cp " + src.archive + "/%f %p"

	t.Run("point in time", func(t *testing.T) {
		ctx := ctxT(t, 120*time.Second)
		scratch := testutil.TempDirFor(t, "postgres")
		argsFile, postFile := filepath.Join(scratch, "args"), filepath.Join(scratch, "post")
		cfg := testConfig(t, "pitr")
		l := newLocal(t, cfg)
		cmd := src.copyCommand(`; echo "$@" > ` + argsFile)
		err := l.Bootstrap(ctx, pg.BootstrapOptions{
			Method: &pg.BootstrapMethod{Name: "restore", Command: cmd, Options: map[string]string{"stanza": "main"},
				RecoveryConf: map[string]string{"restore_command": restoreCommand, "recovery_target_name": "rp"}},
			PostBootstrap: []string{"/bin/sh", "-c", `echo "$1" > ` + postFile + ` && ` + cfg.BinDir + `/psql -X -q -c "CREATE TABLE post_ok ()" "$1"`, "post"},
		})
		if err != nil {
			t.Fatal(err)
		}
		args, _ := os.ReadFile(argsFile)
		if want := "--scope=test --datadir=" + cfg.DataDir + " --stanza=main"; strings.TrimSpace(string(args)) != want {
			t.Errorf("method arguments %q, want %q", args, want)
		}
		// Only the rows before the restore point, on a primary that
		// accepts the configured superuser password.
		waitCount(t, l, "SELECT count(*) FROM t", 3)
		waitCount(t, l, "SELECT count(*) FROM t WHERE id > 3", 0)
		waitCount(t, l, "SELECT pg_is_in_recovery()::int", 0)
		waitCount(t, l, "SELECT count(*) FROM post_ok", 0)
		if post, _ := os.ReadFile(postFile); !strings.Contains(string(post), "user='postgres'") || strings.Contains(string(post), "password") {
			t.Errorf("post_bootstrap got %q, want the superuser's connection string without a password", post)
		}
		conf, _ := os.ReadFile(filepath.Join(cfg.DataDir, pghaConfFile))
		hba, _ := os.ReadFile(filepath.Join(cfg.DataDir, pghaHBAFile))
		switch {
		case strings.Contains(string(conf), "recovery_target"):
			t.Errorf("pgha.conf keeps the bootstrap's recovery target:\n%s", conf)
		case strings.Contains(string(hba), "peer"):
			t.Errorf("pgha_hba.conf keeps the bootstrap's peer rule:\n%s", hba)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "recovery.signal")); !os.IsNotExist(err) {
			t.Errorf("recovery.signal left: %v", err)
		}
		// The replication role got its configured password: a replica
		// clones and streams.
		r := cloneReplica(t, l, "pitr_replica")
		mustExec(t, l, "INSERT INTO t VALUES (10)")
		waitCount(t, r, "SELECT count(*) FROM t", 4)
	})

	t.Run("keep existing recovery conf", func(t *testing.T) {
		ctx := ctxT(t, 120*time.Second)
		cfg := testConfig(t, "keep")
		l := newLocal(t, cfg)
		// The command sets its own recovery up; RecoveryConf is then not used.
		cmd := src.copyCommand(` && printf '%s\n' "restore_command = '` + restoreCommand + `'" "recovery_target_name = 'rp'" "recovery_target_action = 'promote'" >> "$d/postgresql.auto.conf" && touch "$d/recovery.signal"`)
		err := l.Bootstrap(ctx, pg.BootstrapOptions{Method: &pg.BootstrapMethod{
			Name: "restore", Command: cmd, KeepExistingRecoveryConf: true,
			RecoveryConf: map[string]string{"recovery_target_name": "no-such-point"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		waitCount(t, l, "SELECT count(*) FROM t", 3)
		// Once recovered, the kept settings go: replicas copy the file.
		auto, _ := os.ReadFile(filepath.Join(cfg.DataDir, "postgresql.auto.conf"))
		if strings.Contains(string(auto), "recovery_target") || strings.Contains(string(auto), "restore_command") {
			t.Errorf("postgresql.auto.conf keeps recovery settings:\n%s", auto)
		}
	})

	t.Run("restore tool's own recovery settings", func(t *testing.T) {
		// Without keep_existing_recovery_conf, settings a restore tool
		// wrote into postgresql.auto.conf do not override recovery_conf.
		ctx := ctxT(t, 120*time.Second)
		l := newLocal(t, testConfig(t, "toolconf"))
		cmd := src.copyCommand(` && printf '%s\n' "restore_command = 'false'" "recovery_target_name = 'no-such-point'" >> "$d/postgresql.auto.conf" && touch "$d/standby.signal"`)
		err := l.Bootstrap(ctx, pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "restore", Command: cmd,
			RecoveryConf: map[string]string{"restore_command": restoreCommand, "recovery_target_name": "rp"}}})
		if err != nil {
			t.Fatal(err)
		}
		waitCount(t, l, "SELECT count(*) FROM t", 3)
	})

	t.Run("no recovery conf", func(t *testing.T) {
		// Without recovery settings the backup starts on the WAL it holds:
		// none of the rows written after it.
		ctx := ctxT(t, 120*time.Second)
		l := newLocal(t, testConfig(t, "plain"))
		err := l.Bootstrap(ctx, pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "restore", Command: src.copyCommand("")}})
		if err != nil {
			t.Fatal(err)
		}
		waitCount(t, l, "SELECT count(*) FROM t", 0)
	})

	t.Run("failing command", func(t *testing.T) {
		ctx := ctxT(t, 60*time.Second)
		cfg := testConfig(t, "failing")
		l := newLocal(t, cfg)
		err := l.Bootstrap(ctx, pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "restore", Command: src.copyCommand("; exit 3")}})
		if err == nil || !strings.Contains(err.Error(), "bootstrap method restore") {
			t.Fatalf("Bootstrap = %v, want the method's failure", err)
		}
		if l.State() == pg.StateRunning {
			t.Fatal("server running after a failed bootstrap")
		}
		// What the command restored stays until it is set aside.
		if !l.initialized() {
			t.Fatal("the failed restore's data directory was deleted")
		}
		to, err := l.MoveDataDirAside(ctx)
		if err != nil || !strings.HasPrefix(to, cfg.DataDir+"_") {
			t.Fatalf("MoveDataDirAside = %q, %v", to, err)
		}
		if _, err := os.Stat(filepath.Join(to, "PG_VERSION")); err != nil {
			t.Errorf("moved directory: %v", err)
		}
		if empty, _ := l.dataDirEmpty(); !empty {
			t.Errorf("data directory not empty after MoveDataDirAside")
		}
		if to, err := l.MoveDataDirAside(ctx); to != "" || err != nil {
			t.Errorf("MoveDataDirAside of an empty directory = %q, %v", to, err)
		}
	})

	t.Run("recovery target never reached", func(t *testing.T) {
		ctx := ctxT(t, 60*time.Second)
		l := newLocal(t, testConfig(t, "notarget"))
		err := l.Bootstrap(ctx, pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "restore", Command: src.copyCommand(""),
			RecoveryConf: map[string]string{"restore_command": restoreCommand, "recovery_target_name": "no-such-point"}}})
		if !errors.Is(err, pg.ErrStartFailed) {
			t.Fatalf("Bootstrap = %v, want ErrStartFailed", err)
		}
		if l.State() == pg.StateRunning {
			t.Fatal("server running after a failed bootstrap")
		}
	})
}

// TestPostBootstrapFailure: a non-zero post_bootstrap fails the
// bootstrap and stops the server; initdb's directory is removed again.
func TestPostBootstrapFailure(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	cfg := testConfig(t, "postfail")
	l := newLocal(t, cfg)
	err := l.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true, PostBootstrap: []string{"/bin/sh", "-c", "echo nope >&2; exit 5"}})
	if err == nil || !strings.Contains(err.Error(), "post_bootstrap") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Bootstrap = %v, want the post_bootstrap failure with its output", err)
	}
	if l.State() == pg.StateRunning {
		t.Fatal("server running after a failed bootstrap")
	}
	if empty, _ := l.dataDirEmpty(); !empty {
		t.Error("initdb's data directory left after a failed bootstrap")
	}
}

// TestCustomBootstrapValidation: bad methods are refused before anything runs.
func TestCustomBootstrapValidation(t *testing.T) {
	l := newLocal(t, testConfig(t, "badmethod"))
	for _, tc := range []struct {
		name string
		m    pg.BootstrapMethod
	}{
		{"no command", pg.BootstrapMethod{Name: "x"}},
		{"control character", pg.BootstrapMethod{Name: "x", Command: []string{"/bin/true", "a\nb"}}},
		{"reserved option", pg.BootstrapMethod{Name: "x", Command: []string{"/bin/true"}, Options: map[string]string{"datadir": "/x"}}},
		{"bad option name", pg.BootstrapMethod{Name: "x", Command: []string{"/bin/true"}, Options: map[string]string{"a=b": "c"}}},
		{"managed recovery setting", pg.BootstrapMethod{Name: "x", Command: []string{"/bin/true"}, RecoveryConf: map[string]string{"primary_conninfo": "host=x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			err := l.Bootstrap(ctxT(t, 10*time.Second), pg.BootstrapOptions{Method: &m})
			if !errors.Is(err, pg.ErrInvalidConfig) {
				t.Fatalf("Bootstrap = %v, want ErrInvalidConfig", err)
			}
			if !l.initialized() {
				if empty, _ := l.dataDirEmpty(); !empty {
					t.Fatal("data directory touched")
				}
			}
		})
	}
}
