package pglocal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// testParams keep several instances small enough for a shared 2-core box.
var testParams = map[string]string{
	"shared_buffers":               "16MB",
	"max_connections":              "20",
	"fsync":                        "off",
	"max_wal_size":                 "256MB",
	"log_min_messages":             "warning",
	"wal_receiver_status_interval": "1s",
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig returns a config for a member in a fresh directory the
// postgres OS user owns, on a free port.
func testConfig(t testing.TB, name string) Config {
	t.Helper()
	dir := testutil.TempDirFor(t, "postgres")
	return Config{
		Name:        name,
		Scope:       "test",
		BinDir:      testutil.PGBinDir(t),
		DataDir:     filepath.Join(dir, "data"),
		Port:        testutil.FreePort(t),
		SocketDir:   dir,
		Superuser:   Credentials{Password: "su-secret"},
		Replication: Credentials{Password: "repl'sec\\ret"},
		Rewind:      Credentials{Password: "rewind secret"},
		Parameters:  testParams,
		Logger:      testLogger(),
	}
}

// newLocal builds a Local and stops its server when the test ends.
func newLocal(t testing.TB, cfg Config) *Local {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Stop(ctx, pg.StopImmediate); err != nil {
			t.Errorf("stop %s: %v", cfg.Name, err)
		}
	})
	return l
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// bootstrapPrimary creates and starts a new primary.
func bootstrapPrimary(t testing.TB, name string) *Local {
	t.Helper()
	l := newLocal(t, testConfig(t, name))
	if err := l.Bootstrap(ctxT(t, 60*time.Second), pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatalf("bootstrap %s: %v", name, err)
	}
	return l
}

// cloneReplica clones a replica of primary (creating its slot there) and
// starts it following primary.
func cloneReplica(t testing.TB, primary *Local, name string) *Local {
	t.Helper()
	ctx := ctxT(t, 120*time.Second)
	r := newLocal(t, testConfig(t, name))
	if err := primary.CreateSlot(ctx, pg.SlotName(name)); err != nil {
		t.Fatalf("create slot for %s: %v", name, err)
	}
	if err := r.Clone(ctx, pg.CloneRequest{Upstream: primary.Upstream()}); err != nil {
		t.Fatalf("clone %s: %v", name, err)
	}
	if err := r.Follow(ctx, pg.FollowConfig{Upstream: primary.Upstream(), SlotName: pg.SlotName(name)}); err != nil {
		t.Fatalf("follow %s: %v", name, err)
	}
	return r
}

// sqlConn opens a superuser connection to l for test queries.
func sqlConn(t testing.TB, l *Local) *pgx.Conn {
	t.Helper()
	cc, err := l.localConnConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ConnectConfig(ctxT(t, 10*time.Second), cc)
	if err != nil {
		t.Fatalf("connect to %s: %v", l.cfg.Name, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// queryInt runs a one-value query on a fresh connection.
func queryInt(ctx context.Context, l *Local, sql string) (int64, error) {
	cc, err := l.localConnConfig()
	if err != nil {
		return 0, err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var n int64
	err = c.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

func mustExec(t testing.TB, l *Local, sql string) {
	t.Helper()
	c := sqlConn(t, l)
	if _, err := c.Exec(ctxT(t, 60*time.Second), sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, l.cfg.Name, err)
	}
	c.Close(context.Background())
}

// waitCount waits until sql returns want on l.
func waitCount(t testing.TB, l *Local, sql string, want int64) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := queryInt(ctx, l, sql)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("got %d, want %d", n, want)
		}
		return nil
	}, "%s on %s", sql, l.cfg.Name)
}

// waitStreaming waits until l is a replica streaming on timeline tli.
func waitStreaming(t testing.TB, l *Local, tli uint32) pg.Status {
	t.Helper()
	var st pg.Status
	testutil.Eventually(t, 60*time.Second, func() error {
		var err error
		st, err = l.Status(context.Background())
		if err != nil {
			return err
		}
		if st.Role != pg.RoleReplica || st.Receiver != pg.ReceiverStreaming || st.Timeline != tli {
			return fmt.Errorf("role %q receiver %q timeline %d", st.Role, st.Receiver, st.Timeline)
		}
		return nil
	}, "%s streaming on timeline %d", l.cfg.Name, tli)
	return st
}
