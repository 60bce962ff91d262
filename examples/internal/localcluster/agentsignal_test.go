package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startFakeKeeper starts a process that looks like a fence keeper started
// by the agent with pid agent of the cluster in dir: argv[0]
// pgha-fence-keeper, a session of its own, the cluster's mark in its
// environment. The test kills it at the end.
func startFakeKeeper(t *testing.T, dir, agent string) *exec.Cmd {
	t.Helper()
	// sh with the keeper's argv[0]; the arguments after the script are
	// its $0.. and do not disturb it. It waits in the builtin read on a
	// pipe the test holds open: a forked child (sleep) would carry the
	// keeper's argv[0] and mark until it execs, and be found as a second
	// keeper.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh")
	cmd.Args = []string{keeperArg0, "-c", "read x", "-kill-after=10s", "-agent=" + agent}
	cmd.Env = append(os.Environ(), clusterEnv+"="+dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = w.Close()
		_ = cmd.Wait()
	})
	return cmd
}

// FenceKeepers finds the keepers marked with this cluster's directory, and
// no other; Close's stopFenceKeepers ends them.
func TestFenceKeepers(t *testing.T) {
	c := &Cluster{dir: t.TempDir()}
	mine := startFakeKeeper(t, c.dir, "4242")
	startFakeKeeper(t, t.TempDir(), "4243") // another cluster's

	ks := c.FenceKeepers()
	if len(ks) != 1 {
		t.Fatalf("FenceKeepers() = %v, want only pid %d", ks, mine.Process.Pid)
	}
	k := ks[0]
	if k.PID != mine.Process.Pid || k.Agent != 4242 || k.Session != k.PID {
		t.Errorf("FenceKeepers() = %+v, want pid %d, agent 4242, a session of its own", k, mine.Process.Pid)
	}
	if got, ok := c.FenceKeeperOf(4242); !ok || got != k {
		t.Errorf("FenceKeeperOf(4242) = %v, %v", got, ok)
	}
	if _, ok := c.FenceKeeperOf(4243); ok {
		t.Error("FenceKeeperOf(4243) found another cluster's keeper")
	}
	// This process's session may be led by a process outside its PID
	// namespace (CI runs in a container), which /proc shows as session 0;
	// what matters is that the keeper's is not the same.
	if sid := processSession(os.Getpid()); sid == k.Session {
		t.Errorf("session of this process %d, keeper's %d", sid, k.Session)
	}

	// A stopped process is in state T.
	if err := syscall.Kill(k.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := poll(t.Context(), 10*time.Second, time.Millisecond, func() error {
		if s := procState(k.PID); s != 'T' {
			return fmt.Errorf("state %q, want T", s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if err := c.stopFenceKeepers(); err != nil {
		t.Fatal(err)
	}
	if ks := c.FenceKeepers(); len(ks) != 0 {
		t.Errorf("FenceKeepers() after stopFenceKeepers = %v", ks)
	}
	if procState(-1) != 0 || processSession(-1) != 0 {
		t.Error("a process that does not exist has a state or session")
	}
}
