package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// postmasterStopWait bounds an immediate shutdown before SIGKILL.
const postmasterStopWait = 10 * time.Second

// stopPostmaster stops the node's PostgreSQL for good: SIGQUIT (immediate
// shutdown, which also releases its shared memory), then SIGKILL of the
// process group if it has not exited in time.
func (n *Node) stopPostmaster() error {
	pid, err := n.PostmasterPID()
	if err != nil || pid == 0 {
		return err
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	deadline := time.Now().Add(postmasterStopWait)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		if _, err := n.killPostmaster(); err != nil {
			return err
		}
	}
	return nil
}

// killStragglers SIGKILLs every process whose command line names a path
// under dir (initdb, pg_basebackup, pg_rewind or a postmaster started by
// an agent that was killed meanwhile), with its process group when it
// leads one, and waits briefly for them to go.
func killStragglers(dir string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("localcluster: scan processes: %w", err)
	}
	self := os.Getpid()
	needle := []byte(filepath.Clean(dir) + "/")
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil || errors.Is(err, syscall.ESRCH) {
			killed = append(killed, pid)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range killed {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			return fmt.Errorf("localcluster: process %d did not exit", pid)
		}
	}
	return nil
}
