package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// boottime reads CLOCK_BOOTTIME in nanoseconds: monotonic like
// CLOCK_MONOTONIC (the clock behind Go's monotonic readings, slewed alike by
// NTP, never stepped) but it keeps counting while the machine is
// suspended, as leases in the DCS do. It is the same clock in every process
// of the machine.
func boottime() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		// Cannot happen on Linux >= 2.6.39; failing loudly beats a wrong clock.
		panic(fmt.Sprintf("fence: clock_gettime(CLOCK_BOOTTIME): %v", err))
	}
	return ts.Nano()
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return procStat{}, fmt.Errorf("fence: process %d: %w", pid, ErrNotRunning)
		}
		return procStat{}, fmt.Errorf("fence: process %d: %w", pid, err)
	}
	return parseStat(b)
}

// Identify returns the [Process] that has pid now. It fails with
// [ErrNotRunning] when there is none or it has already exited.
func Identify(pid int) (Process, error) {
	if pid <= 0 {
		return Process{}, fmt.Errorf("fence: pid %d: %w", pid, ErrNotRunning)
	}
	s, err := readStat(pid)
	if err != nil {
		return Process{}, err
	}
	if s.exited() {
		return Process{}, fmt.Errorf("fence: process %d has exited: %w", pid, ErrNotRunning)
	}
	return Process{PID: pid, StartTime: s.startTime}, nil
}

// Running reports whether p is still running: a process with p's pid
// exists, was started at p's start time, and has not exited.
func (p Process) Running() bool {
	q, err := Identify(p.PID)
	return err == nil && q == p
}

// LookupPostmaster returns the postmaster running on dataDir. It reads the
// pid on the first line of dataDir/postmaster.pid and accepts it only if
// /proc shows that process is a live postmaster of that directory: the
// postgres (or postmaster) binary, not a single-user, bootstrap or check
// run, with its working directory (PostgreSQL changes into the data
// directory at start) equal to dataDir, symbolic links resolved. Its
// children overwrite their command lines ("postgres: checkpointer"), so a
// child never passes; nor does a pid reused by another program or by the
// postmaster of another cluster. The identity is read before and after the
// checks, so they applied to one process.
//
// It fails with [ErrNotRunning] when no postmaster of dataDir runs (no
// postmaster.pid, or a stale one), [ErrBadPidFile] when the file's first
// line is not a pid, and with the underlying error when /proc cannot be
// read: the working directory of another user's process is visible only to
// root (or CAP_SYS_PTRACE), which is what an agent running the server as the
// postgres OS user is.
func LookupPostmaster(dataDir string) (Process, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return Process{}, fmt.Errorf("fence: %s: no postmaster.pid: %w", dataDir, ErrNotRunning)
	}
	if err != nil {
		return Process{}, fmt.Errorf("fence: %w", err)
	}
	pid, err := parsePidFile(b)
	if err != nil {
		return Process{}, fmt.Errorf("fence: %s: %w", dataDir, err)
	}
	p, err := Identify(pid)
	if err != nil {
		return Process{}, fmt.Errorf("fence: %s: stale postmaster.pid: %w", dataDir, err)
	}
	if err := CheckPostmaster(pid, dataDir); err != nil {
		return Process{}, err
	}
	if !p.Running() {
		return Process{}, fmt.Errorf("fence: %s: postmaster %d exited while being checked: %w", dataDir, pid, ErrNotRunning)
	}
	return p, nil
}

// CheckPostmaster verifies through /proc that pid is a running postmaster
// of dataDir: the postgres program, not a single-user, bootstrap or check
// run, with dataDir as its working directory. A pid that is no such
// process fails with an error wrapping [ErrNotRunning]; other errors mean
// /proc could not be read. It is the one postmaster check of the module
// (package pg uses it too), so that a stale postmaster.pid can never make
// anything signal an unrelated process.
func CheckPostmaster(pid int, dataDir string) error {
	if pid <= 0 {
		return fmt.Errorf("fence: pid %d: %w", pid, ErrNotRunning)
	}
	dir := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("fence: %s: stale postmaster.pid: process %d exited: %w", dataDir, pid, ErrNotRunning)
		}
		return fmt.Errorf("fence: verify postmaster %d: %w", pid, err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if b := filepath.Base(args[0]); b != "postgres" && b != "postmaster" {
		return fmt.Errorf("fence: %s: stale postmaster.pid: process %d is %q, not a postmaster: %w",
			dataDir, pid, truncate([]byte(args[0]), 60), ErrNotRunning)
	}
	for _, a := range args[1:] {
		switch a {
		case "--single", "--boot", "--check", "--describe-config", "-C":
			return fmt.Errorf("fence: %s: process %d is a %s run of postgres, not a postmaster: %w",
				dataDir, pid, a, ErrNotRunning)
		}
	}
	cwd, err := os.Readlink(dir + "/cwd")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("fence: %s: postmaster %d exited: %w", dataDir, pid, ErrNotRunning)
		}
		return fmt.Errorf("fence: verify postmaster %d's data directory: %w", pid, err)
	}
	if !sameDir(cwd, dataDir) {
		return fmt.Errorf("fence: %s: stale postmaster.pid: process %d is the postmaster of %s: %w",
			dataDir, pid, cwd, ErrNotRunning)
	}
	return nil
}

// sameDir compares a resolved directory (from /proc/<pid>/cwd) with one
// that may be relative or contain symbolic links.
func sameDir(resolved, dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	if resolved == abs {
		return true
	}
	target, err := filepath.EvalSymlinks(abs)
	return err == nil && resolved == target
}

// handle is an open reference to one process for signalling it: a pidfd
// (Linux >= 5.3), which keeps naming that process even after it exits and
// its pid is reused, or, on older kernels, the Process checked again before
// every signal.
type handle struct {
	p     Process
	pidfd int // -1 without pidfd support
}

// openHandle opens p, verifying after the open that the pid still belongs
// to p (so the pidfd refers to p, not to an earlier or later holder of the
// pid).
func openHandle(p Process) (handle, error) {
	fd, err := unix.PidfdOpen(p.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return handle{}, fmt.Errorf("fence: %v: %w", p, ErrNotRunning)
	case err != nil:
		// A kernel without pidfd_open (ENOSYS), or a seccomp profile that
		// refuses it (EPERM): check the start time before each signal.
		fd = -1
	}
	if !p.Running() {
		if fd >= 0 {
			unix.Close(fd)
		}
		return handle{}, fmt.Errorf("fence: %v: %w", p, ErrNotRunning)
	}
	return handle{p: p, pidfd: fd}, nil
}

// close releases h.
func (h handle) close() {
	if h.pidfd >= 0 {
		unix.Close(h.pidfd)
	}
}

// signal sends sig to h's process. It returns unix.ESRCH when the process
// has exited.
func (h handle) signal(sig unix.Signal) error {
	if h.pidfd >= 0 {
		err := unix.PidfdSendSignal(h.pidfd, sig, nil, 0)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return err
		}
		// Refused by seccomp, or not permitted: try kill(2), which fails
		// alike if the permission is really missing.
	}
	if !h.p.Running() {
		return unix.ESRCH
	}
	return unix.Kill(h.p.PID, sig)
}

// waitExit waits up to d for h's process to exit (to become a zombie or
// disappear) and reports whether it did.
func (h handle) waitExit(d time.Duration) bool {
	end := boottime() + int64(d)
	for {
		if h.pidfd >= 0 {
			// A pidfd polls readable once the process has exited.
			rem := end - boottime()
			if rem < 0 {
				rem = 0
			}
			ts := unix.NsecToTimespec(rem)
			fds := []unix.PollFd{{Fd: int32(h.pidfd), Events: unix.POLLIN}}
			n, err := unix.Ppoll(fds, &ts, nil)
			if err == nil && n > 0 {
				return true
			}
		} else {
			if !h.p.Running() {
				return true
			}
			time.Sleep(min(10*time.Millisecond, time.Duration(max(end-boottime(), 0))))
		}
		if boottime() >= end {
			return !h.p.Running()
		}
	}
}

// openChildren opens handles on the current child processes of parent,
// found by scanning /proc for their parent pid. Opening happens while
// parent still runs: once it dies, its children are re-parented.
func openChildren(parent Process) []handle {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var hs []handle
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		s, err := readStat(pid)
		if err != nil || s.ppid != parent.PID || s.exited() || s.startTime < parent.StartTime {
			continue
		}
		h, err := openHandle(Process{PID: pid, StartTime: s.startTime})
		if err != nil {
			continue
		}
		// The pid might have been reused between the scan and the open:
		// keep it only if it is still a child of parent.
		if s2, err := readStat(pid); err != nil || s2.ppid != parent.PID || s2.startTime != s.startTime {
			h.close()
			continue
		}
		hs = append(hs, h)
	}
	return hs
}
