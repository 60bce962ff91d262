package fence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
)

// The test binary doubles as the processes the tests need, selected by
// envHelper before any test runs: a target that records SIGQUIT, a target
// that ignores it, and an agent that starts and arms a keeper of its own.
// (A keeper is this binary too, but the package's init takes care of that
// before TestMain runs.)
const (
	envHelper   = "FENCE_TEST_HELPER"
	envDir      = "FENCE_TEST_DIR"
	envTarget   = "FENCE_TEST_TARGET" // agent: "pid start"
	envArmAfter = "FENCE_TEST_ARM_IN" // agent: deadline offset; empty = do not arm
)

// waitTimeout bounds every wait for something that must happen; generous,
// as it only matters when a test is about to fail.
const waitTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(envDir)))
	}
	// Binaries built with -race sleep a second when they exit; the helpers
	// and keepers this test starts (all this binary) need not.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
	}
	os.Exit(m.Run())
}

func runHelper(mode, dir string) int {
	switch mode {
	case "target", "stubborn":
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGQUIT)
		if mode == "stubborn" {
			child := exec.Command("sleep", "600")
			if err := child.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			writeFileAtomic(filepath.Join(dir, "child"), strconv.Itoa(child.Process.Pid))
		}
		writeFileAtomic(filepath.Join(dir, "ready"), "")
		<-quit
		writeFileAtomic(filepath.Join(dir, "quit"), strconv.FormatInt(boottime(), 10))
		if mode == "stubborn" {
			sleepForever() // ignore it: the keeper must escalate
		}
		return 0
	case "agent":
		log, err := os.OpenFile(filepath.Join(dir, "keeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		k, err := Start(ctx, Options{KeeperLog: log})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		kp, err := Identify(k.PID())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		var bound int64
		if in := os.Getenv(envArmAfter); in != "" {
			d, err1 := time.ParseDuration(in)
			var p Process
			_, err2 := fmt.Sscan(os.Getenv(envTarget), &p.PID, &p.StartTime)
			if err := errors.Join(err1, err2); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			if bound, err = armIn(k, p, d); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		writeFileAtomic(filepath.Join(dir, "agent"), fmt.Sprint(kp.PID, kp.StartTime, bound))
		sleepForever() // until the test kills or stops it
		return 0
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envHelper, mode)
		return 2
	}
}

// armIn arms k for p with a deadline d from now, and returns a lower bound
// of that deadline on CLOCK_BOOTTIME: no fence may come before it.
func armIn(k *Keeper, p Process, d time.Duration) (int64, error) {
	bound := boottime() + int64(d)
	return bound, k.Arm(p, time.Now().Add(d))
}

func mustArmIn(t testing.TB, k *Keeper, p Process, d time.Duration) int64 {
	t.Helper()
	bound, err := armIn(k, p, d)
	if err != nil {
		t.Fatalf("Arm(%v, +%v): %v", p, d, err)
	}
	return bound
}

// sleepForever blocks until the process is killed. (An empty select would
// make the runtime report a deadlock.)
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func writeFileAtomic(path, content string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		panic(err)
	}
}

// helper is a process started from this test binary in a helper mode, in
// its own process group, killed (group and all) when the test ends.
type helper struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

func startHelper(t testing.TB, mode string, env ...string) *helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envDir+"="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s helper: %v", mode, err)
	}
	h := &helper{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		pg := cmd.Process.Pid
		_ = syscall.Kill(-pg, syscall.SIGCONT)
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		select {
		case <-h.done:
		case <-time.After(waitTimeout):
			t.Errorf("%s helper %d did not exit after SIGKILL", mode, pg)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "stderr")); len(b) > 0 && (t.Failed() || testing.Verbose()) {
			t.Logf("%s helper stderr:\n%s", mode, b)
		}
	})
	return h
}

// waitFile waits until the helper has written name and returns its content.
func (h *helper) waitFile(t testing.TB, name string) string {
	t.Helper()
	var content string
	testutil.Eventually(t, waitTimeout, func() error {
		b, err := os.ReadFile(filepath.Join(h.dir, name))
		content = string(b)
		return err
	}, "helper %d writes %s", h.cmd.Process.Pid, name)
	return content
}

// target is a helper process for the keeper to stop.
type target struct {
	*helper
	proc Process
}

// startTarget starts a target that records the time of a SIGQUIT and
// exits (stubborn: records it, and ignores it).
func startTarget(t testing.TB, stubborn bool) *target {
	t.Helper()
	mode := "target"
	if stubborn {
		mode = "stubborn"
	}
	h := startHelper(t, mode)
	h.waitFile(t, "ready")
	p, err := Identify(h.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return &target{helper: h, proc: p}
}

// quit returns the CLOCK_BOOTTIME reading at which the target got SIGQUIT,
// and whether it has.
func (tg *target) quit() (int64, bool) {
	b, err := os.ReadFile(filepath.Join(tg.dir, "quit"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// waitQuit waits until the target has got SIGQUIT.
func (tg *target) waitQuit(t testing.TB) int64 {
	t.Helper()
	s := tg.waitFile(t, "quit")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNotBefore fails if the target was signalled before bound.
func assertNotBefore(t testing.TB, quit, bound int64) {
	t.Helper()
	if quit < bound {
		t.Fatalf("target stopped %v BEFORE its deadline", time.Duration(bound-quit))
	}
}

// agent is a helper process that started a keeper.
type agent struct {
	*helper
	keeper Process
	bound  int64 // lower bound of the armed deadline, 0 if not armed
}

// startAgent starts an agent whose keeper arms tg with a deadline armIn
// from now (tg nil: arms nothing). The keeper is killed when the test ends
// if it is still running.
func startAgent(t testing.TB, tg *target, armIn time.Duration) *agent {
	t.Helper()
	var env []string
	if tg != nil {
		env = append(env, fmt.Sprintf("%s=%d %d", envTarget, tg.proc.PID, tg.proc.StartTime),
			envArmAfter+"="+armIn.String())
	}
	h := startHelper(t, "agent", env...)
	a := &agent{helper: h}
	if _, err := fmt.Sscan(h.waitFile(t, "agent"), &a.keeper.PID, &a.keeper.StartTime, &a.bound); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killProcess(t, a.keeper) })
	t.Cleanup(func() { logFileIfFailed(t, filepath.Join(h.dir, "keeper.log")) })
	return a
}

// signalGroup sends sig to the agent's whole process group, as a shell or
// a supervisor would.
func (a *agent) signalGroup(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(-a.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("kill(-%d, %v): %v", a.cmd.Process.Pid, sig, err)
	}
}

// killProcess kills p if it still runs and waits until it has exited.
func killProcess(t testing.TB, p Process) {
	t.Helper()
	if h, err := openHandle(p); err == nil {
		_ = h.signal(syscall.SIGKILL)
		h.close()
	}
	waitExited(t, p)
}

// waitExited waits until p has exited.
func waitExited(t testing.TB, p Process) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() error {
		if p.Running() {
			return fmt.Errorf("%v still running", p)
		}
		return nil
	}, "%v exits", p)
}

// startKeeper starts a keeper in this process that logs to a file, shown
// when the test fails, and closes it when the test ends.
func startKeeper(t testing.TB, opts Options) (*Keeper, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keeper.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	opts.KeeperLog = f
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	k, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		logFileIfFailed(t, path)
	})
	return k, path
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func logFileIfFailed(t testing.TB, path string) {
	if !t.Failed() && !testing.Verbose() {
		return
	}
	if b, err := os.ReadFile(path); err == nil {
		t.Logf("%s:\n%s", path, b)
	}
}

// waitLog waits until the log file at path contains s.
func waitLog(t testing.TB, path, s string) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), s) {
			return fmt.Errorf("no %q yet", s)
		}
		return nil
	}, "log %s contains %q", path, s)
}
