package fence

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The keeper is this same executable, started by [Start] with envKeeper set.
const (
	envKeeper       = "PGHA_FENCE_KEEPER" // value: protocolVersion
	protocolVersion = "2"
	keeperArg0      = "pgha-fence-keeper" // argv[0], what ps shows
	keeperComm      = "pgha-fence"        // comm, what top shows (15 bytes at most)
	readyFD         = 3                   // the keeper writes "ready" here once it runs
	// maxSleep caps one wait of the keeper, so that it notices a deadline
	// passed while the machine was suspended within this long of waking up
	// (its timeouts run on CLOCK_MONOTONIC, which stops during suspend).
	maxSleep = time.Second
	// escalateWait bounds the wait for exit after SIGKILL, for the log.
	escalateWait = 5 * time.Second
)

// init turns this process into a keeper, and never returns, when it was
// started as one by Start. It is the only effect of importing the package.
func init() {
	if v, ok := os.LookupEnv(envKeeper); ok {
		os.Exit(keeperMain(v, os.Args[1:]))
	}
}

// keeperMain runs the keeper and returns its exit code.
func keeperMain(version string, args []string) int {
	os.Unsetenv(envKeeper)
	if version != protocolVersion {
		fmt.Fprintf(os.Stderr, "%s: %s=%q, but this binary speaks protocol %q\n", keeperArg0, envKeeper, version, protocolVersion)
		return 2
	}
	fs := flag.NewFlagSet(keeperArg0, flag.ContinueOnError)
	killAfter := fs.Duration("kill-after", DefaultKillAfter, "wait this long after SIGQUIT before SIGKILL")
	agent := fs.Int("agent", 0, "pid of the agent, for the log")
	dataDir := fs.String("data-dir", "", "the data directory whose postmaster is stopped when the armed process has exited")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Keep the runtime small and quiet: one P is plenty for a process that
	// sleeps in ppoll(2).
	runtime.GOMAXPROCS(1)
	_ = os.WriteFile("/proc/self/comm", []byte(keeperComm), 0)
	// Only the agent's pipe closing ends the keeper's watch; terminal and
	// service-manager signals do not (SIGKILL still does). A broken log
	// pipe must not kill it either.
	signal.Ignore(syscall.SIGPIPE, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	out := newDropWriter(os.Stderr)
	defer out.close(time.Second)
	log := slog.New(slog.NewTextHandler(out, nil)).With(
		"component", keeperArg0, "pid", os.Getpid(), "agent", *agent)

	if err := unix.SetNonblock(0, true); err != nil {
		log.Error("fence keeper: stdin is not the agent's pipe", "err", err)
		return 2
	}
	ready := os.NewFile(readyFD, "ready")
	if _, err := ready.Write([]byte("ready " + protocolVersion + "\n")); err != nil {
		log.Error("fence keeper: cannot report ready", "err", err)
		return 2
	}
	ready.Close()

	k := &keeperLoop{in: 0, log: log, killAfter: *killAfter, dataDir: *dataDir}
	k.run()
	return 0
}

// keeperLoop is the keeper's state and its single-threaded event loop.
type keeperLoop struct {
	in        int // the agent's pipe, non-blocking
	log       *slog.Logger
	killAfter time.Duration
	// dataDir, when set, is looked up at a deadline whose target has
	// exited (or is the data directory itself, pid 0).
	dataDir string

	st  armState
	tgt handle // open handle on st.target while st.armed
	eof bool   // the agent's pipe is closed: the agent is gone
	buf []byte // bytes read but not yet parsed
}

// run serves until the agent is gone and nothing is armed.
func (k *keeperLoop) run() {
	k.log.Info("fence keeper: started")
	for {
		if k.eof && !k.st.armed {
			k.log.Info("fence keeper: agent gone and nothing armed: exiting")
			return
		}
		k.wait()
		k.drain()
		if k.st.due(boottime()) {
			k.fire()
		}
	}
}

// wait sleeps until the agent writes, the agent's pipe closes, or the armed
// deadline (at most maxSleep ahead) passes. Spurious returns are harmless.
func (k *keeperLoop) wait() {
	var timeout time.Duration
	if k.st.armed {
		rem := k.st.deadline - boottime()
		if rem <= 0 {
			return
		}
		timeout = time.Duration(min(rem, int64(maxSleep)))
	}
	if k.eof {
		// Armed, since run returns when not; nothing left to read.
		time.Sleep(timeout)
		return
	}
	var ts *unix.Timespec // nil: no timeout
	if timeout > 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	fds := []unix.PollFd{{Fd: int32(k.in), Events: unix.POLLIN}}
	_, _ = unix.Ppoll(fds, ts, nil) // EINTR: the loop comes back
}

// drain reads everything the agent has written so far and applies each
// complete message in order, so that at a deadline the keeper has seen
// every message written before it looked.
func (k *keeperLoop) drain() {
	for !k.eof && k.read() {
	}
}

// read makes one non-blocking read of the agent's pipe and applies the
// complete messages read. It reports false when there was nothing to
// read.
func (k *keeperLoop) read() bool {
	var chunk [4096]byte
	for {
		n, err := unix.Read(k.in, chunk[:])
		switch {
		case n > 0:
			k.buf = append(k.buf, chunk[:n]...)
			k.handleLines()
			return true
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		}
		// 0 bytes: end of file; or a read error, which means the same.
		k.eof = true
		unix.Close(k.in)
		if k.st.armed {
			k.log.Warn("fence keeper: agent's pipe closed while armed: will fence at the deadline, then exit",
				"target", k.st.target.PID, "in", time.Duration(k.st.deadline-boottime()))
		}
		return true
	}
}

// handleLines applies the complete lines in k.buf.
func (k *keeperLoop) handleLines() {
	for {
		i := bytes.IndexByte(k.buf, '\n')
		if i < 0 {
			if len(k.buf) > maxLine {
				k.log.Error("fence keeper: discarding an overlong message", "len", len(k.buf))
				k.buf = k.buf[:0]
			}
			return
		}
		k.handle(k.buf[:i])
		k.buf = k.buf[i+1:]
	}
}

// handle applies one message.
func (k *keeperLoop) handle(line []byte) {
	m, err := parseMessage(line)
	if err != nil {
		k.log.Error("fence keeper: ignoring a malformed message", "err", err)
		return
	}
	if k.st.due(m.stamp) {
		// The agent sent m after the deadline: it comes too late.
		k.fire()
	}
	next, newTarget := k.st.apply(m)
	switch {
	case m.kind == msgDisarm:
		if k.st.armed {
			k.log.Info("fence keeper: disarmed", "target", k.st.target.PID)
		}
		k.release()
	case newTarget:
		k.release()
		if next.target.PID == 0 {
			if k.dataDir == "" {
				k.log.Error("fence keeper: not arming: a data directory arm, but no -data-dir")
				return
			}
			k.log.Info("fence keeper: armed for the data directory's postmaster", "data_dir", k.dataDir,
				"in", time.Duration(next.deadline-boottime()))
			break
		}
		h, err := openHandle(next.target)
		if err != nil {
			if k.dataDir == "" {
				k.log.Warn("fence keeper: not arming: the process is not running",
					"target", next.target.PID, "start", next.target.StartTime, "err", err)
				return
			}
			k.log.Warn("fence keeper: the process is not running: armed for the data directory's postmaster",
				"target", next.target.PID, "start", next.target.StartTime, "data_dir", k.dataDir, "err", err)
			next.target = Process{}
			break
		}
		k.tgt = h
		k.log.Info("fence keeper: armed", "target", next.target.PID, "start", next.target.StartTime,
			"in", time.Duration(next.deadline-boottime()))
	}
	k.st = next
}

// release forgets the armed target.
func (k *keeperLoop) release() {
	if k.st.armed && k.st.target.PID != 0 {
		k.tgt.close()
	}
	k.st = armState{}
	k.tgt = handle{}
}

// fire stops the armed target: SIGQUIT (PostgreSQL's immediate shutdown),
// SIGCONT in case it was stopped, and, if it has not exited after
// killAfter, SIGKILL to it and its children. Then nothing is armed.
func (k *keeperLoop) fire() {
	defer k.release()
	t, h := k.st.target, k.tgt
	if k.dataDir != "" && (t.PID == 0 || !t.Running()) {
		// Restarted in place (or armed while no postmaster ran): the one
		// running in the data directory now is the primary the deadline
		// was for.
		p, err := LookupPostmaster(k.dataDir)
		if err != nil {
			k.log.Info("fence keeper: deadline passed: the armed process has exited and no postmaster runs in the data directory",
				"target", t.PID, "data_dir", k.dataDir, "err", err)
			return
		}
		nh, err := openHandle(p)
		if err != nil {
			k.log.Info("fence keeper: deadline passed: the data directory's postmaster exited meanwhile", "target", p.PID, "err", err)
			return
		}
		defer nh.close()
		k.log.Warn("fence keeper: the armed process has exited: stopping the postmaster running in the data directory now",
			"armed", t.PID, "target", p.PID, "data_dir", k.dataDir)
		t, h = p, nh
	}
	log := k.log.With("target", t.PID, "start", t.StartTime)
	log.Warn("fence keeper: deadline passed unconfirmed: stopping the postmaster (SIGQUIT, immediate shutdown)",
		"late", time.Duration(boottime()-k.st.deadline))
	start := boottime()
	if err := h.signal(unix.SIGQUIT); err != nil {
		if errors.Is(err, unix.ESRCH) {
			log.Info("fence keeper: the process had already exited")
		} else {
			log.Error("fence keeper: cannot signal the process", "err", err)
		}
		return
	}
	_ = h.signal(unix.SIGCONT)
	if h.waitExit(k.killAfter) {
		log.Warn("fence keeper: fenced: the process exited", "after", time.Duration(boottime()-start))
		return
	}
	children := openChildren(t)
	log.Error("fence keeper: the process did not exit after SIGQUIT: sending SIGKILL to it and its children",
		"waited", k.killAfter, "children", len(children))
	_ = h.signal(unix.SIGKILL)
	for _, c := range children {
		_ = c.signal(unix.SIGKILL)
		c.close()
	}
	if h.waitExit(escalateWait) {
		log.Warn("fence keeper: fenced: the process exited after SIGKILL", "after", time.Duration(boottime()-start))
	} else {
		log.Error("fence keeper: the process survives SIGKILL (uninterruptible sleep?)", "waited", escalateWait)
	}
}

// dropWriter hands log lines to a goroutine that writes them, dropping
// lines when it falls behind: the keeper never waits on its log.
type dropWriter struct {
	w       io.Writer
	ch      chan []byte
	done    chan struct{}
	dropped atomic.Int64
}

func newDropWriter(w io.Writer) *dropWriter {
	d := &dropWriter{w: w, ch: make(chan []byte, 64), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for b := range d.ch {
			_, _ = d.w.Write(b)
		}
	}()
	return d
}

func (d *dropWriter) Write(p []byte) (int, error) {
	select {
	case d.ch <- bytes.Clone(p):
	default:
		d.dropped.Add(1)
	}
	return len(p), nil
}

// close flushes what it can within timeout.
func (d *dropWriter) close(timeout time.Duration) {
	if n := d.dropped.Load(); n > 0 {
		select {
		case d.ch <- fmt.Appendf(nil, "%s: %d log lines dropped\n", keeperArg0, n):
		default:
		}
	}
	close(d.ch)
	select {
	case <-d.done:
	case <-time.After(timeout):
	}
}
