package pglocal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestCloneMethodsInOrder checks that a failing custom method gets
// Patroni's arguments, its leftovers are wiped, and basebackup then wins.
func TestCloneMethodsInOrder(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	p := bootstrapPrimary(t, "src")
	mustExec(t, p, "CREATE TABLE t AS SELECT 1 AS id")

	scratch := testutil.TempDirFor(t, "postgres")
	argsFile := filepath.Join(scratch, "args")
	cfg := testConfig(t, "dst")
	cfg.ReplicaMethods = []ReplicaMethod{
		{Name: "restore", Command: []string{"/bin/sh", "-c", `echo "$@" > ` + argsFile + `; touch "${2#--datadir=}/junk"; exit 3`, "sh"}},
		{Name: BaseBackup},
	}
	r := newLocal(t, cfg)
	if err := r.Clone(ctx, pg.CloneRequest{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--scope=test", "--datadir=" + cfg.DataDir, "--role=replica", "--connstring=host="} {
		if !strings.Contains(string(args), want) {
			t.Errorf("custom method args %q lack %q", args, want)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "junk")); !os.IsNotExist(err) {
		t.Errorf("failed method's leftovers survived: %v", err)
	}
	if err := r.Follow(ctx, pg.FollowConfig{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, r, "SELECT count(*) FROM t", 1)
}
