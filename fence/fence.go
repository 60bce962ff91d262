package fence

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotRunning: the process is not running (it exited, its pid now
	// belongs to another process, or it is a zombie), or no postmaster of
	// the data directory is running (no postmaster.pid, or a stale one).
	ErrNotRunning = errors.New("fence: process not running")
	// ErrBadPidFile: postmaster.pid exists but its first line is not a pid.
	ErrBadPidFile = errors.New("fence: malformed postmaster.pid")
	// ErrClosed: the Keeper was closed.
	ErrClosed = errors.New("fence: keeper closed")
	// ErrKeeperFailed: no keeper process could be started, or a running one
	// could not be reached and no replacement could be started. Nothing is
	// armed; the caller is the only line of fencing.
	ErrKeeperFailed = errors.New("fence: keeper unavailable")
	// ErrUnsupported: the platform is not Linux. The keeper needs /proc,
	// pidfds and CLOCK_BOOTTIME.
	ErrUnsupported = errors.New("fence: only supported on Linux")
)

// Process identifies one process for its whole life: a pid names a process
// only until it exits and the kernel hands the number to another one, but
// the pair (pid, start time) is never reused. StartTime is field 22 of
// /proc/<pid>/stat, in clock ticks since boot.
type Process struct {
	PID       int
	StartTime uint64
}

// String formats p for logs.
func (p Process) String() string {
	return "pid " + strconv.Itoa(p.PID) + " (start " + strconv.FormatUint(p.StartTime, 10) + ")"
}

// Defaults of [Options].
const (
	DefaultKillAfter    = 10 * time.Second
	DefaultStartTimeout = 5 * time.Second
)

// Options configure [Start]. The zero value is ready to use.
type Options struct {
	// Logger receives what happens on the agent's side: keeper started,
	// exited, restarted. Default slog.Default().
	Logger *slog.Logger

	// KeeperLog is where the keeper process writes its own log, as slog
	// text lines: armed, disarmed, fenced, exiting. Default os.Stderr.
	//
	// An *os.File (a log file, the agent's stderr when it is a file, a
	// terminal or a journal stream) becomes the keeper's stderr, so the
	// keeper keeps logging after the agent has died, which is when its log
	// matters most. Any other writer is fed through a pipe that the agent
	// copies, and goes silent when the agent stops. Either way the keeper
	// never waits on its log: a line it cannot hand over at once is dropped.
	KeeperLog io.Writer

	// KillAfter is how long the keeper waits, after sending SIGQUIT, for the
	// postmaster to exit before it sends SIGKILL to the postmaster and to
	// its child processes. Default DefaultKillAfter (10 s): PostgreSQL
	// itself sends SIGKILL to children that have not exited 5 s after an
	// immediate shutdown request.
	KillAfter time.Duration

	// StartTimeout bounds starting a keeper process inside [Keeper.Arm],
	// when the previous one has died. [Start] is bounded by its context.
	// Default DefaultStartTimeout.
	StartTimeout time.Duration

	// DataDir is the PostgreSQL data directory whose postmaster the
	// keeper guards. With it, the keeper stops, at a deadline whose armed
	// process has exited, the postmaster then running in DataDir (one the
	// agent restarted in place and had no time to arm: an agent killed
	// between the start and the next Arm must not leave it running), and
	// Arm accepts the zero Process: "whatever postmaster runs in DataDir
	// at the deadline". Without it only the armed process is stopped.
	DataDir string
}
