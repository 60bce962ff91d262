package pglocal

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/pg"
)

func TestNewLocalMissingBinaries(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.BinDir = "/nonexistent/bin"
	_, err := New(cfg)
	if !errors.Is(err, pg.ErrBinaryNotFound) || !strings.Contains(err.Error(), "BinDir") || !strings.Contains(err.Error(), "postgresql-15") {
		t.Fatalf("err = %v, want ErrBinaryNotFound naming BinDir and the package", err)
	}
}

func TestBootstrapRefusesNonEmptyDataDir(t *testing.T) {
	cfg := testConfig(t, "n1")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(cfg.DataDir, "keep.txt")
	if err := os.WriteFile(keep, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newLocal(t, cfg)
	ctx := ctxT(t, 30*time.Second)
	if err := l.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); !errors.Is(err, pg.ErrDataDirNotEmpty) {
		t.Fatalf("bootstrap: %v, want ErrDataDirNotEmpty", err)
	}
	if err := l.Clone(ctx, pg.CloneRequest{Upstream: pg.Upstream{Host: "127.0.0.1", Port: 1}}); !errors.Is(err, pg.ErrDataDirNotEmpty) {
		t.Fatalf("clone: %v, want ErrDataDirNotEmpty", err)
	}
	if err := l.Start(ctx); !errors.Is(err, pg.ErrNoDataDir) {
		t.Fatalf("start: %v, want ErrNoDataDir", err)
	}
	if data, err := os.ReadFile(keep); err != nil || string(data) != "precious" {
		t.Fatalf("data dir damaged: %q, %v", data, err)
	}
}

// TestBadInputOnExistingCluster checks that wrong passwords, a taken port,
// a corrupt postgresql.auto.conf and an impossible rewind give clear errors
// and leave the data intact.
func TestBadInputOnExistingCluster(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	n := bootstrapPrimary(t, "n1")
	mustExec(t, n, "CREATE TABLE keep (id int); INSERT INTO keep VALUES (1), (2), (3)")

	t.Run("wrong superuser password", func(t *testing.T) {
		cfg := n.Config()
		cfg.Superuser.Password = "wrong"
		other, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s := other.State(); s != pg.StateRunning {
			t.Fatalf("state of a server started by another Local: %s", s)
		}
		if _, err := other.Status(ctx); !errors.Is(err, pg.ErrAuthFailed) {
			t.Fatalf("status: %v, want ErrAuthFailed", err)
		}
		if err := other.Start(ctx); !errors.Is(err, pg.ErrAlreadyRunning) {
			t.Fatalf("second start: %v, want ErrAlreadyRunning", err)
		}
	})

	t.Run("wrong replication password", func(t *testing.T) {
		cfg := testConfig(t, "n2")
		cfg.Replication.Password = "wrong"
		r := newLocal(t, cfg)
		if err := r.Clone(ctx, pg.CloneRequest{Upstream: n.Upstream()}); !errors.Is(err, pg.ErrAuthFailed) {
			t.Fatalf("clone: %v, want ErrAuthFailed", err)
		}
		if empty, err := r.dataDirEmpty(); err != nil || !empty {
			t.Fatalf("failed clone left data behind: empty=%v %v", empty, err)
		}
	})

	t.Run("rewind impossible without wal_log_hints or checksums", func(t *testing.T) {
		cfg := n.Config()
		cfg.Parameters = map[string]string{"wal_log_hints": "off", "shared_buffers": "16MB", "max_connections": "20"}
		noHints, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		if err := noHints.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := noHints.Rewind(ctx, pg.Upstream{Host: "127.0.0.1", Port: 1}); !errors.Is(err, pg.ErrRewindImpossible) {
			t.Fatalf("rewind: %v, want ErrRewindImpossible", err)
		}
		if s := noHints.State(); s != pg.StateRunning {
			t.Fatalf("impossible rewind changed the server: state %s", s)
		}
		if err := noHints.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("port in use", func(t *testing.T) {
		if err := n.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(n.Port()))
		if err != nil {
			t.Fatal(err)
		}
		err = n.Start(ctx)
		ln.Close()
		if !errors.Is(err, pg.ErrPortInUse) {
			t.Fatalf("start: %v, want ErrPortInUse", err)
		}
		if s := n.State(); s != pg.StateStopped {
			t.Fatalf("state %s after refused start", s)
		}
	})

	t.Run("corrupt postgresql.auto.conf", func(t *testing.T) {
		path := filepath.Join(n.DataDir(), "postgresql.auto.conf")
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("this is = = not 'valid\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := n.chown(path); err != nil {
			t.Fatal(err)
		}
		err = n.Start(ctx)
		if !errors.Is(err, pg.ErrStartFailed) || !strings.Contains(err.Error(), "postgresql.auto.conf") {
			t.Fatalf("start: %v, want ErrStartFailed naming postgresql.auto.conf", err)
		}
		if s := n.State(); s != pg.StateStartFailed {
			t.Fatalf("state %s, want start failed", s)
		}
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := n.chown(path); err != nil {
			t.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitCount(t, n, "SELECT count(*) FROM keep", 3)
	})
}
