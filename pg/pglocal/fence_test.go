package pglocal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestFence fences a primary: at once, without waiting for an operation
// that holds the operation lock, never reported as a crash, and never by
// signalling a process that a stale postmaster.pid names.
func TestFence(t *testing.T) {
	ctx := ctxT(t, 240*time.Second)
	a := bootstrapPrimary(t, "fence-a")
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)")

	t.Run("stops a running primary", func(t *testing.T) {
		session := sqlConn(t, a)
		mustExec(t, a, "INSERT INTO t SELECT generate_series(101, 200)")
		if err := a.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		if s := a.State(); s != pg.StateStopped {
			t.Fatalf("state after fence %s, want %s", s, pg.StateStopped)
		}
		if _, err := queryInt(ctx, a, "SELECT 1"); err == nil {
			t.Fatal("a new connection succeeded after the fence")
		}
		if _, err := session.Exec(ctx, "INSERT INTO t VALUES (1000)"); err == nil {
			t.Fatal("an open session could still write after the fence")
		}
		if err := a.Fence(ctx); err != nil {
			t.Fatalf("fencing a fenced server: %v", err)
		}
		if _, err := a.ShutdownCheckpoint(ctx); !errors.Is(err, pg.ErrNotCleanlyStopped) {
			t.Fatalf("shutdown checkpoint after fence: %v, want ErrNotCleanlyStopped", err)
		}
	})

	t.Run("start after fence recovers committed data", func(t *testing.T) {
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := queryInt(ctx, a, "SELECT count(*) FROM t"); err != nil || n != 200 {
			t.Fatalf("rows after crash recovery: %d, %v", n, err)
		}
		if st, err := a.Status(ctx); err != nil || st.State != pg.StateRunning || st.Role != pg.RolePrimary {
			t.Fatalf("status after restart %+v, %v", st, err)
		}
	})

	t.Run("does not wait for an operation holding the lock", func(t *testing.T) {
		// A smart restart waits, holding the operation lock, until every
		// session ends; this one has a transaction open.
		session := sqlConn(t, a)
		if _, err := session.Exec(ctx, "BEGIN; INSERT INTO t VALUES (500)"); err != nil {
			t.Fatal(err)
		}
		restarted := make(chan error, 1)
		go func() { restarted <- a.Restart(ctx, pg.StopSmart) }()
		testutil.Eventually(t, 30*time.Second, func() error {
			if s := a.State(); s != pg.StateStopping {
				return fmt.Errorf("state %s", s)
			}
			return nil
		}, "smart shutdown under way")
		if a.op.TryLock() {
			a.op.Unlock()
			t.Fatal("the smart restart does not hold the operation lock")
		}
		select {
		case err := <-restarted:
			t.Fatalf("smart restart returned with a session open: %v", err)
		default:
		}

		if err := a.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		if pid := a.runningPID(); pid != 0 {
			t.Fatalf("postmaster %d still running after fence", pid)
		}
		// The restart was called before the fence: it must not bring the
		// primary back.
		select {
		case err := <-restarted:
			if !errors.Is(err, pg.ErrFenced) {
				t.Fatalf("restart interrupted by a fence: %v, want ErrFenced", err)
			}
		case <-ctx.Done():
			t.Fatal("restart did not return after the fence")
		}
		if s, pid := a.State(), a.runningPID(); s != pg.StateStopped || pid != 0 {
			t.Fatalf("after fence and restart: state %s, pid %d", s, pid)
		}
		if _, err := queryInt(ctx, a, "SELECT 1"); err == nil {
			t.Fatal("a new connection succeeded after the fence")
		}

		if err := a.Start(ctx); err != nil { // a call after the fence may start it
			t.Fatal(err)
		}
		waitCount(t, a, "SELECT count(*) FROM t", 200)
	})

	t.Run("postmaster started by another process", func(t *testing.T) {
		b := newLocal(t, a.Config())
		if s := b.State(); s != pg.StateRunning {
			t.Fatalf("adopted state %s", s)
		}
		if err := b.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		if s := b.State(); s != pg.StateStopped {
			t.Fatalf("state after fencing an adopted postmaster %s, want %s", s, pg.StateStopped)
		}
		// For a, which started it, it was a crash.
		testutil.Eventually(t, 10*time.Second, func() error {
			if s := a.State(); s != pg.StateCrashed {
				return fmt.Errorf("state %s", s)
			}
			return nil
		}, "the starter sees the postmaster gone")

		// A damaged postmaster.pid does not hide a running postmaster.
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		writePidFile(t, a, "garbage\n")
		if s := b.State(); s != pg.StateStopped {
			t.Fatalf("state with a damaged postmaster.pid %s", s)
		}
		if err := b.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			if pid := a.runningPID(); pid != 0 {
				return fmt.Errorf("postmaster %d still running", pid)
			}
			return nil
		}, "postmaster with a damaged postmaster.pid fenced")
		os.Remove(filepath.Join(a.cfg.DataDir, "postmaster.pid"))
	})

	t.Run("stale postmaster.pid is not signalled", func(t *testing.T) {
		other := bootstrapPrimary(t, "fence-other")
		sleeper := exec.Command("sleep", "600")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- sleeper.Wait() }()
		t.Cleanup(func() { sleeper.Process.Kill() })

		dir := a.cfg.DataDir
		for name, content := range map[string]string{
			"garbage":                    "not a pid\x00\xff\n",
			"negative pid (single-user)": "-1\n" + dir + "\n",
			"unrelated process":          strconv.Itoa(sleeper.Process.Pid) + "\n" + dir + "\n",
			"this test process":          strconv.Itoa(os.Getpid()) + "\n" + dir + "\n",
			"another cluster":            strconv.Itoa(other.runningPID()) + "\n" + dir + "\n",
		} {
			writePidFile(t, a, content)
			if s := a.State(); s != pg.StateStopped && s != pg.StateCrashed {
				t.Errorf("%s: state %s", name, s)
			}
			if err := a.Fence(ctx); err != nil {
				t.Errorf("%s: fence: %v", name, err)
			}
			if s := a.State(); s != pg.StateStopped {
				t.Errorf("%s: state after fence %s", name, s)
			}
		}
		os.Remove(filepath.Join(dir, "postmaster.pid"))

		// Had a fence signalled them, the sleeper would not die of our
		// SIGKILL and the other cluster would not shut down cleanly.
		sleeper.Process.Kill()
		err := <-exited
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the unrelated process ended with %v, want killed by SIGKILL", err)
		}
		if err := other.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		if _, err := other.ShutdownCheckpoint(ctx); err != nil {
			t.Errorf("the other cluster did not shut down cleanly (was it signalled?): %v", err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start after the stale pid files: %v", err)
		}
		waitCount(t, a, "SELECT count(*) FROM t", 200)
	})
}

// writePidFile replaces l's postmaster.pid.
func writePidFile(t *testing.T, l *Local, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.cfg.DataDir, "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestIsPostmaster checks the identification of a postmaster against
// processes that are not one.
func TestIsPostmaster(t *testing.T) {
	a := bootstrapPrimary(t, "ident-a")
	pid := a.runningPID()
	if !isPostmaster(pid, a.cfg.DataDir) {
		t.Fatalf("the running postmaster %d is not recognized", pid)
	}
	if got := findPostmaster(a.cfg.DataDir); got != pid {
		t.Fatalf("findPostmaster = %d, want %d", got, pid)
	}
	if isPostmaster(pid, a.cfg.DataDir+"-elsewhere") {
		t.Error("postmaster recognized for another data directory")
	}
	children := childPIDs(t, pid)
	if len(children) == 0 {
		t.Fatal("the postmaster has no child processes to check")
	}
	for _, child := range children {
		if isPostmaster(child, a.cfg.DataDir) {
			t.Errorf("child process %d (same binary, same working directory) taken for the postmaster", child)
		}
	}
	for _, bad := range []int{0, -1, os.Getpid()} {
		if isPostmaster(bad, a.cfg.DataDir) {
			t.Errorf("pid %d taken for the postmaster", bad)
		}
	}
	if got := findPostmaster(t.TempDir()); got != 0 {
		t.Errorf("findPostmaster found %d for an empty directory", got)
	}
	if err := a.Stop(ctxT(t, 30*time.Second), pg.StopFast); err != nil {
		t.Fatal(err)
	}
	if isPostmaster(pid, a.cfg.DataDir) {
		t.Error("a stopped postmaster is still recognized")
	}
}

// childPIDs lists the child processes of pid from /proc/<pid>/stat.
func childPIDs(t *testing.T, parent int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(parent) {
			out = append(out, pid)
		}
	}
	return out
}
