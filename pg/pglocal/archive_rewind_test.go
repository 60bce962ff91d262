package pglocal

import (
	"context"
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

// archiveConfig is testConfig for a member that archives WAL into archive
// (archive_mode and archive_command are ordinary parameters) and, as a
// replica or a rewind target, restores from it (RecoveryConf).
func archiveConfig(t testing.TB, name, archive string) Config {
	cfg := testConfig(t, name)
	cfg.Parameters = maps.Clone(testParams)
	cfg.Parameters["archive_mode"] = "on"
	cfg.Parameters["archive_command"] = fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", archive, archive)
	cfg.Parameters["wal_keep_size"] = "0"
	cfg.Parameters["min_wal_size"] = "32MB"
	cfg.Parameters["max_wal_size"] = "64MB"
	cfg.RecoveryConf = map[string]string{"restore_command": fmt.Sprintf("cp %s/%%f %%p", archive)}
	return cfg
}

// A former primary whose own WAL since the divergence is gone from its
// pg_wal (archived, then removed by checkpoints) is rewound with
// --restore-target-wal, pg_rewind fetching that WAL from the archive;
// without restore_command the same rewind fails for the missing WAL.
func TestRewindRestoresTargetWALFromArchive(t *testing.T) {
	ctx := ctxT(t, 200*time.Second)
	archive := testutil.TempDirFor(t, "postgres")
	a := newLocal(t, archiveConfig(t, "node-a", archive))
	if err := a.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	b := newLocal(t, archiveConfig(t, "node-b", archive))
	if err := b.Clone(ctx, pg.CloneRequest{Upstream: a.Upstream()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Follow(ctx, pg.FollowConfig{Upstream: a.Upstream()}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "CREATE TABLE t (id int, note text); INSERT INTO t SELECT g, 'common' FROM generate_series(1, 100) g")
	waitCount(t, b, "SELECT count(*) FROM t", 100)
	var rc string
	if err := sqlConn(t, b).QueryRow(ctx, "SELECT current_setting('restore_command')").Scan(&rc); err != nil || !strings.Contains(rc, archive) {
		t.Fatalf("replica restore_command %q (%v)", rc, err)
	}

	// b leaves and is promoted; a writes on alone (diverging) and then
	// loses that WAL from its pg_wal.
	if err := b.Follow(ctx, pg.FollowConfig{}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	var divergedSeg string
	if err := sqlConn(t, a).QueryRow(ctx, fmt.Sprintf("SELECT pg_walfile_name('%s')", st.ReplayLSN)).Scan(&divergedSeg); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		for range 3 {
			mustExec(t, a, "INSERT INTO t SELECT g, 'only on a' FROM generate_series(1, 500) g")
			mustExec(t, a, "SELECT pg_switch_wal()")
		}
		c := sqlConn(t, a)
		defer c.Close(context.Background())
		var archived string
		if err := c.QueryRow(ctx, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver").Scan(&archived); err != nil {
			return err
		}
		if archived <= divergedSeg {
			return fmt.Errorf("archiver at %q", archived)
		}
		if _, err := c.Exec(ctx, "CHECKPOINT"); err != nil {
			return err
		}
		var present int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_ls_waldir() WHERE name = $1", divergedSeg).Scan(&present); err != nil {
			return err
		}
		if present != 0 {
			return fmt.Errorf("%s still in pg_wal", divergedSeg)
		}
		return nil
	}, "node-a removes its WAL segment %s", divergedSeg)
	if _, err := os.Stat(filepath.Join(archive, divergedSeg)); err != nil {
		t.Fatalf("%s not archived: %v", divergedSeg, err)
	}
	if err := a.Stop(ctx, pg.StopFast); err != nil {
		t.Fatal(err)
	}

	// The same data directory without restore_command: pg_rewind lacks the
	// target's WAL and fails before changing anything.
	noRC := a.cfg
	noRC.RecoveryConf = nil
	plain, err := New(noRC)
	if err != nil {
		t.Fatal(err)
	}
	err = plain.Rewind(ctx, b.Upstream())
	if !errors.Is(err, pg.ErrRewindFailed) || !strings.Contains(err.Error(), "lacks WAL") && !strings.Contains(err.Error(), "missing from pg_wal") {
		t.Fatalf("rewind without restore_command: %v, want ErrRewindFailed for the missing WAL", err)
	}

	if err := a.Rewind(ctx, b.Upstream()); err != nil {
		t.Fatalf("rewind with restore_command: %v", err)
	}
	if err := a.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream()}); err != nil {
		t.Fatal(err)
	}
	waitStreaming(t, a, 2)
	waitCount(t, a, "SELECT count(*) FROM t WHERE note = 'only on a'", 0)
	waitCount(t, a, "SELECT count(*) FROM t", 100)
}
