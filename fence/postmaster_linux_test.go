package fence

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
)

// postgres is a real PostgreSQL server started by a test.
type postgres struct {
	dataDir string
	log     string
	cmd     *exec.Cmd
	done    chan struct{}

	run  func(name string, args ...string) *exec.Cmd
	args []string // the postmaster's
}

// startPostgres initializes a data directory and starts a postmaster on
// it, as the postgres OS user when the test runs as root (as pglocal.Local
// does). The server is stopped when the test ends.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bin := testutil.PGBinDir(t)
	dir := testutil.TempDirFor(t, "postgres")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("look up OS user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	pg := &postgres{dataDir: filepath.Join(dir, "data"), log: filepath.Join(t.TempDir(), "postgres.log")}
	pg.run = func(name string, args ...string) *exec.Cmd {
		logf, err := os.OpenFile(pg.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
		t.Cleanup(func() { logf.Close() })
		return cmd
	}
	if err := pg.run("initdb", "-D", pg.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions").Run(); err != nil {
		b, _ := os.ReadFile(pg.log)
		t.Fatalf("initdb: %v\n%s", err, b)
	}
	pg.args = []string{"-D", pg.dataDir, "-k", dir, "-p", strconv.Itoa(testutil.FreePort(t)),
		"-c", "listen_addresses=", "-c", "shared_buffers=16MB", "-c", "max_connections=10", "-c", "fsync=off"}
	pg.start(t)
	return pg
}

// start starts a postmaster on the data directory (again, after a stop:
// a restart in place) and waits until it is ready; it is stopped when the
// test ends.
func (pg *postgres) start(t *testing.T) {
	t.Helper()
	cmd, done := pg.run("postgres", pg.args...), make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	pg.cmd, pg.done = cmd, done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(pg.log)
			t.Logf("postgres log:\n%s", b)
		}
	})
	testutil.Eventually(t, waitTimeout, func() error {
		if pg.exited() {
			return errors.New("postgres exited")
		}
		b, err := os.ReadFile(filepath.Join(pg.dataDir, "postmaster.pid"))
		if err != nil {
			return err
		}
		if lines := strings.Split(string(b), "\n"); len(lines) < 8 || strings.TrimSpace(lines[7]) != "ready" {
			return errors.New("not ready")
		}
		return nil
	}, "postgres ready")
}

// crash stops the postmaster in immediate mode (SIGQUIT: no shutdown
// checkpoint; the postmaster exits once its children have, so a new one
// can attach to the data directory) and waits until it is gone.
func (pg *postgres) crash(t *testing.T) {
	t.Helper()
	_ = pg.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-pg.done:
	case <-time.After(waitTimeout):
		t.Fatal("postgres survives SIGQUIT")
	}
}

func (pg *postgres) exited() bool {
	select {
	case <-pg.done:
		return true
	default:
		return false
	}
}

// (f) LookupPostmaster against a real PostgreSQL 15, then the keeper
// fences it.
func TestPostgres(t *testing.T) {
	pg := startPostgres(t)
	want, err := Identify(pg.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("LookupPostmaster", func(t *testing.T) {
		got, err := LookupPostmaster(pg.dataDir)
		if err != nil || got != want {
			t.Fatalf("LookupPostmaster = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("through a symbolic link", func(t *testing.T) {
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(pg.dataDir, link); err != nil {
			t.Fatal(err)
		}
		got, err := LookupPostmaster(link)
		if err != nil || got != want {
			t.Fatalf("LookupPostmaster(symlink) = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("its pid file copied to another directory", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(pg.dataDir, "postmaster.pid"))
		if err != nil {
			t.Fatal(err)
		}
		other := t.TempDir()
		if err := os.WriteFile(filepath.Join(other, "postmaster.pid"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if p, err := LookupPostmaster(other); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("LookupPostmaster(other dir) = %v, %v; want ErrNotRunning", p, err)
		}
	})
	t.Run("a pid file naming one of its children", func(t *testing.T) {
		children := openChildren(want)
		defer func() {
			for _, c := range children {
				c.close()
			}
		}()
		if len(children) == 0 {
			t.Fatal("postmaster has no children")
		}
		// Written where the postmaster's working directory is, so that
		// only the command line tells the child apart.
		pidFile := filepath.Join(pg.dataDir, "postmaster.pid")
		orig, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(children[0].p.PID)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(pidFile, orig, 0o600)
		if p, err := LookupPostmaster(pg.dataDir); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("LookupPostmaster(child pid) = %v, %v; want ErrNotRunning", p, err)
		}
	})
	t.Run("fenced by the keeper", func(t *testing.T) {
		p, err := LookupPostmaster(pg.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := startKeeper(t, Options{})
		mustArmIn(t, k, p, 300*time.Millisecond)
		select {
		case <-pg.done:
		case <-time.After(waitTimeout):
			t.Fatal("postgres still running after the deadline")
		}
		b, _ := os.ReadFile(pg.log)
		if !strings.Contains(string(b), "received immediate shutdown request") {
			t.Errorf("postgres log does not show an immediate shutdown:\n%s", b)
		}
		if p, err := LookupPostmaster(pg.dataDir); !errors.Is(err, ErrNotRunning) {
			t.Errorf("LookupPostmaster after the fence = %v, %v; want ErrNotRunning", p, err)
		}
	})
}

// (f) Missing, garbage and stale postmaster.pid files.
func TestLookupPostmasterBadPidFile(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content *string // nil: no file
		want    error
	}{
		{"no file", nil, ErrNotRunning},
		{"empty", ptr(""), ErrBadPidFile},
		{"garbage", ptr("garbage\n/data\n"), ErrBadPidFile},
		{"zero", ptr("0\n"), ErrBadPidFile},
		{"negative", ptr("-12\n"), ErrBadPidFile},
		{"not a postmaster (this test)", ptr(fmt.Sprintf("%d\n", os.Getpid())), ErrNotRunning},
		{"exited process", ptr(fmt.Sprintf("%d\n", exited.Process.Pid)), ErrNotRunning},
		{"pid out of range", ptr("2147483647\n"), ErrNotRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != nil {
				if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if p, err := LookupPostmaster(dir); !errors.Is(err, tc.want) {
				t.Fatalf("LookupPostmaster = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
	if _, err := LookupPostmaster(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("LookupPostmaster(missing dir) = %v; want ErrNotRunning", err)
	}
}

func ptr[T any](v T) *T { return &v }

// (g) A postmaster restarted in place after the arm, or started after the
// data directory was armed while none ran, is stopped at the deadline: a
// keeper started with Options.DataDir stops whatever postmaster runs there
// once the armed one has exited. e2e TestAgentFault's
// agent_killed_after_pg_restart is the same through the agent.
func TestRestartedInPlace(t *testing.T) {
	for _, tc := range []struct {
		name string
		arm  func(t *testing.T, k *Keeper, pg *postgres) int64
	}{
		{"armed postmaster restarted", func(t *testing.T, k *Keeper, pg *postgres) int64 {
			p, err := LookupPostmaster(pg.dataDir)
			if err != nil {
				t.Fatal(err)
			}
			bound := mustArmIn(t, k, p, 3*time.Second)
			pg.crash(t)
			pg.start(t)
			return bound
		}},
		{"data directory armed while stopped", func(t *testing.T, k *Keeper, pg *postgres) int64 {
			pg.crash(t)
			bound := mustArmIn(t, k, Process{}, 3*time.Second)
			pg.start(t)
			return bound
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := startPostgres(t)
			k, log := startKeeper(t, Options{DataDir: pg.dataDir})
			bound := tc.arm(t, k, pg)
			select {
			case <-pg.done:
			case <-time.After(waitTimeout):
				t.Fatal("the postmaster started after the arm still runs after the deadline")
			}
			if now := boottime(); now < bound {
				t.Errorf("stopped %v before the deadline", time.Duration(bound-now))
			}
			waitLog(t, log, "stopping the postmaster running in the data directory now")
		})
	}
	t.Run("zero Process without DataDir", func(t *testing.T) {
		k, _ := startKeeper(t, Options{})
		if _, err := armIn(k, Process{}, time.Second); err == nil {
			t.Error("Arm(Process{}) without Options.DataDir accepted")
		}
	})
}
