package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgha/pgha/pg"
)

// pollInterval is how often waits re-check a condition.
const pollInterval = 20 * time.Millisecond

// postmaster is a server process started by this Local.
type postmaster struct {
	cmd           *exec.Cmd
	done          chan struct{} // closed when the process has exited
	stopRequested bool          // guarded by Local.mu
	logFile       string
	logOffset     int64 // size of the log file when the process started
}

// pidFile is the part of postmaster.pid that Local uses.
type pidFile struct {
	pid     int
	dataDir string
	status  string // starting, stopping, ready, standby (PostgreSQL 10+)
}

func (l *Local) readPidFile() (pidFile, error) {
	data, err := os.ReadFile(filepath.Join(l.cfg.DataDir, "postmaster.pid"))
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(data), "\n")
	var pf pidFile
	pf.pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pf.pid <= 0 {
		return pidFile{}, fmt.Errorf("pg: malformed postmaster.pid")
	}
	if len(lines) > 1 {
		pf.dataDir = lines[1]
	}
	if len(lines) > 7 {
		pf.status = strings.TrimSpace(lines[7])
	}
	return pf, nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// externalPID returns the pid of a live postmaster on our data directory
// that this Local did not start (left by an earlier agent), or 0. The pid
// comes from postmaster.pid and is checked with isPostmaster, so a stale
// file whose pid now belongs to another process is ignored.
func (l *Local) externalPID() int {
	pf, err := l.readPidFile()
	if err != nil || pf.dataDir != l.cfg.DataDir || !isPostmaster(pf.pid, l.cfg.DataDir) {
		return 0
	}
	return pf.pid
}

// State returns the process state. A postmaster left running by an
// earlier process on this data directory is reported as running.
func (l *Local) State() pg.ProcessState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc != nil {
		if l.state == pg.StateStarting {
			if pf, err := l.readPidFile(); err == nil && (pf.status == "ready" || pf.status == "standby") {
				l.state = pg.StateRunning
			}
		}
		return l.state
	}
	if pid := l.externalPID(); pid != 0 {
		if pid == l.stopPID {
			return pg.StateStopping
		}
		l.adopted = pid
		return pg.StateRunning
	}
	switch {
	case l.adopted != 0:
		l.adopted = 0
		l.state = pg.StateCrashed
		l.log.Error("pg: postmaster exited unexpectedly (not started by this process)")
	case l.state == pg.StateStopping:
		// A stop whose wait ended with its context; the server is gone now.
		l.state = pg.StateStopped
	}
	return l.state
}

// running returns the pid of the running postmaster, or 0.
func (l *Local) runningPID() int {
	l.mu.Lock()
	p := l.proc
	l.mu.Unlock()
	if p != nil {
		return p.cmd.Process.Pid
	}
	return l.externalPID()
}

// lockOp takes op for an operation, after noting how many Fence calls came
// before the operation was called: one called before a Fence must not
// start a primary after it (see start), even if it was still waiting for
// op when the Fence came. Release with l.op.Unlock.
func (l *Local) lockOp() {
	l.mu.Lock()
	fences := l.fences
	l.mu.Unlock()
	l.op.Lock()
	l.opFences = fences
}

// Start starts the server and waits until it accepts connections (or, for
// a replica, read-only connections). If ctx ends first the server keeps
// starting in the background and Start returns the context's error.
func (l *Local) Start(ctx context.Context) error {
	l.lockOp()
	defer l.op.Unlock()
	return l.start(ctx)
}

func (l *Local) start(ctx context.Context) error {
	if l.runningPID() != 0 {
		return fmt.Errorf("pg: start: %w", pg.ErrAlreadyRunning)
	}
	if !l.initialized() {
		return fmt.Errorf("pg: start %s: %w", l.cfg.DataDir, pg.ErrNoDataDir)
	}
	if err := l.checkPort(); err != nil {
		return err
	}
	if err := l.writeConfig(); err != nil {
		return err
	}
	// A postmaster.pid left by a crashed server would make the first start
	// refuse only if its pid is alive, which externalPID ruled out.
	logf, err := os.OpenFile(l.cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("pg: open LogFile: %w", err)
	}
	defer logf.Close()
	_ = l.chown(l.cfg.LogFile)
	offset, _ := logf.Seek(0, io.SeekEnd)

	// Not bound to ctx: the server must outlive the call that started it.
	cmd := l.command(context.Background(), "postgres", "-D", l.cfg.DataDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	_, err = os.Stat(filepath.Join(l.cfg.DataDir, "standby.signal"))
	asPrimary := err != nil
	// Checked and started under mu, which Fence takes to count itself and
	// find the postmaster: either Fence finds this one and stops it, or the
	// check sees the Fence.
	l.mu.Lock()
	if asPrimary && l.fences != l.opFences {
		l.mu.Unlock()
		return fmt.Errorf("pg: start: not starting a primary: the server was fenced after this operation was called: %w", pg.ErrFenced)
	}
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("pg: start postgres: %w", err)
	}
	p := &postmaster{cmd: cmd, done: make(chan struct{}), logFile: l.cfg.LogFile, logOffset: offset}
	l.proc, l.state, l.stopPID = p, pg.StateStarting, 0
	l.mu.Unlock()
	go l.watch(p)
	l.log.Info("pg: postmaster started", "pid", cmd.Process.Pid, "port", l.cfg.Port)

	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			l.mu.Lock()
			fenced := p.stopRequested // only Fence stops a server while it starts
			l.mu.Unlock()
			if fenced {
				return fmt.Errorf("pg: start: %w while starting", pg.ErrFenced)
			}
			return fmt.Errorf("%w: %s", pg.ErrStartFailed, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pg: waiting for server to accept connections: %w", ctx.Err())
		case <-t.C:
			if l.State() == pg.StateRunning {
				return nil
			}
		}
	}
}

// watch waits for the postmaster to exit and records why: a requested
// stop, a failed start, or a crash.
func (l *Local) watch(p *postmaster) {
	err := p.cmd.Wait()
	l.mu.Lock()
	if l.proc == p {
		l.proc = nil
		switch {
		case p.stopRequested:
			l.state = pg.StateStopped
		case l.state == pg.StateStarting:
			l.state = pg.StateStartFailed
			l.log.Error("pg: server failed to start", "err", err, "log", p.logTail())
		default:
			l.state = pg.StateCrashed
			l.log.Error("pg: postmaster exited unexpectedly", "err", err)
		}
	}
	l.mu.Unlock()
	close(p.done)
	l.closeConn()
}

// logTail returns what the server logged since this process started.
func (p *postmaster) logTail() string {
	f, err := os.Open(p.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if _, err := f.Seek(p.logOffset, io.SeekStart); err != nil {
		return "(no log)"
	}
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return tail(string(data), 2000)
}

// checkPort fails with ErrPortInUse when the TCP port is taken, so a
// doomed start never runs.
func (l *Local) checkPort() error {
	for _, host := range strings.Split(l.cfg.ListenAddresses, ",") {
		host = strings.TrimSpace(host)
		switch host {
		case "":
			continue
		case "*":
			host = ""
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(l.cfg.Port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: %s port %d", pg.ErrPortInUse, host, l.cfg.Port)
			}
			return fmt.Errorf("pg: check listen address %q: %w", host, err)
		}
		ln.Close()
	}
	return nil
}

func stopSignal(mode pg.StopMode) (syscall.Signal, error) {
	switch mode {
	case pg.StopSmart:
		return syscall.SIGTERM, nil
	case pg.StopFast, "":
		return syscall.SIGINT, nil
	case pg.StopImmediate:
		return syscall.SIGQUIT, nil
	}
	return 0, fmt.Errorf("%w: stop mode %q (want smart, fast or immediate)", pg.ErrInvalidConfig, mode)
}

// Stop stops the server and waits for the postmaster to exit. If ctx ends
// first it returns the context's error and the shutdown goes on; call Stop
// again with StopImmediate to hurry it.
func (l *Local) Stop(ctx context.Context, mode pg.StopMode) error {
	l.lockOp()
	defer l.op.Unlock()
	return l.stop(ctx, mode)
}

func (l *Local) stop(ctx context.Context, mode pg.StopMode) error {
	sig, err := stopSignal(mode)
	if err != nil {
		return err
	}
	l.closeConn()
	return l.halt(ctx, sig, string(mode), false)
}

// halt sends sig to the postmaster and waits until it has exited, marking
// the exit as requested so that it is never taken for a crash. It takes
// neither op nor connMu, so Fence can use it while another operation
// runs. fence makes it count a Fence (see start) in the same critical
// section that reads which postmaster runs. The postmaster is the one this
// Local started, else the one postmaster.pid names if isPostmaster agrees,
// else one found by findPostmaster (postmaster.pid missing or garbage).
// With none running the state becomes stopped and halt returns nil.
func (l *Local) halt(ctx context.Context, sig syscall.Signal, mode string, fence bool) error {
	l.mu.Lock()
	if fence {
		l.fences++
	}
	p := l.proc
	if p != nil {
		p.stopRequested = true
		l.state = pg.StateStopping
	}
	l.mu.Unlock()
	lvl := slog.LevelInfo
	if fence {
		lvl = slog.LevelWarn
	}
	if p != nil {
		pid := p.cmd.Process.Pid
		l.log.Log(ctx, lvl, "pg: stopping", "mode", mode, "pid", pid)
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pg: signal postmaster %d: %w", pid, err)
		}
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("pg: waiting for %s shutdown: %w", mode, ctx.Err())
		}
	}
	pid := l.externalPID()
	if pid == 0 {
		pid = findPostmaster(l.cfg.DataDir)
	}
	l.mu.Lock()
	l.adopted = 0
	if pid == 0 {
		if l.proc == nil { // not a replica that started after a Fence
			l.state = pg.StateStopped
		}
		l.mu.Unlock()
		return nil
	}
	l.stopPID, l.state = pid, pg.StateStopping
	l.mu.Unlock()
	l.log.Log(ctx, lvl, "pg: stopping a postmaster this process did not start", "pid", pid, "mode", mode)
	// FindProcess holds a pidfd on Linux: checked after it is opened, the
	// signal reaches that postmaster or nothing, even if the pid is reused.
	proc, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("pg: find postmaster %d: %w", pid, err)
	}
	defer proc.Release()
	if isPostmaster(pid, l.cfg.DataDir) {
		if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pg: signal postmaster %d: %w", pid, err)
		}
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for isPostmaster(pid, l.cfg.DataDir) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pg: waiting for %s shutdown: %w", mode, ctx.Err())
		case <-t.C:
		}
	}
	l.mu.Lock()
	if l.proc == nil && l.state == pg.StateStopping {
		l.state = pg.StateStopped
	}
	l.mu.Unlock()
	return nil
}

// Restart stops the server in the given mode and starts it again.
func (l *Local) Restart(ctx context.Context, mode pg.StopMode) error {
	l.lockOp()
	defer l.op.Unlock()
	if err := l.stop(ctx, mode); err != nil {
		return err
	}
	return l.start(ctx)
}

// Reload rewrites pgha.conf and signals the postmaster to re-read its
// configuration. It returns before every backend has applied it.
func (l *Local) Reload(ctx context.Context) error {
	l.lockOp()
	defer l.op.Unlock()
	return l.reload()
}

func (l *Local) reload() error {
	pid := l.runningPID()
	if pid == 0 {
		return fmt.Errorf("pg: reload: %w", pg.ErrNotRunning)
	}
	if err := l.writeConfig(); err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("pg: reload: %w", err)
	}
	return nil
}
