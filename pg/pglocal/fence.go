package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/pgha/pgha/fence"
	"github.com/pgha/pgha/pg"
)

var _ pg.Fencer = (*Local)(nil)

// Fence stops accepting writes at once; see [Fencer]. It sends SIGQUIT
// (PostgreSQL's immediate shutdown: every backend is terminated, nothing
// more is committed, no shutdown checkpoint) to the postmaster and waits,
// bounded by ctx, until it has exited. It does not wait for op, which
// slow operations hold, nor for the reused connection, which a running
// query holds; it takes only the short lock on Local's state.
//
// The postmaster is the one this Local started, else the one named by
// postmaster.pid, else one found among the running processes; in the last
// two cases it is signalled only when it is a postmaster whose working
// directory is this data directory (see isPostmaster), so a stale
// postmaster.pid never makes Fence signal an unrelated process. Finding none
// is not an error: the server is already down.
//
// Afterwards the state is [StateStopped] (a stop we asked for, never
// [StateCrashed]), even if an operation was running: a Stop or Demote that
// was waiting for the same postmaster returns as usual, and an operation
// called before Fence will not start the server again as a primary: it
// returns [ErrFenced] instead (starting it as a replica is allowed, as that
// takes no writes). A later call of Start starts it again, with crash
// recovery. If ctx ends before the postmaster has exited, Fence returns the
// context's error; the postmaster has been signalled and goes on exiting.
func (l *Local) Fence(ctx context.Context) error {
	if err := l.halt(ctx, syscall.SIGQUIT, "fence (immediate)", true); err != nil {
		return fmt.Errorf("pg: fence: %w", err)
	}
	return nil
}

// isPostmaster reports whether pid is a live postmaster of dataDir: not one
// of its child processes, not a single-user, bootstrap or check run of the
// postgres binary, not a zombie. It reads /proc: PostgreSQL changes its
// working directory to the data directory at start; a postmaster keeps its
// command line ("/usr/lib/postgresql/15/bin/postgres -D ..."), while its
// children overwrite theirs ("postgres: checkpointer"), and a zombie's is
// empty. A pid reused by another program, or by the postmaster of another
// cluster, fails the test. Without /proc (not Linux) it can only check that
// the process exists.
func isPostmaster(pid int, dataDir string) bool {
	if pid <= 0 {
		return false
	}
	err := fence.CheckPostmaster(pid, dataDir)
	if err != nil && !errors.Is(err, fence.ErrNotRunning) {
		if _, serr := os.Stat("/proc/self/cmdline"); serr != nil {
			return processAlive(pid) // no /proc: existence is all we can check
		}
	}
	return err == nil
}

// findPostmaster looks through /proc for a postmaster of dataDir, for when
// postmaster.pid is missing or unreadable while one may still run (a
// PostgreSQL that finds its pid file damaged shuts down on its own only
// about a minute later). It returns 0 when there is none or /proc cannot
// be read.
func findPostmaster(dataDir string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !e.IsDir() {
			continue
		}
		if isPostmaster(pid, dataDir) {
			return pid
		}
	}
	return 0
}
