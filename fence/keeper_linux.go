package fence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// writeTimeout bounds one write to the keeper's pipe. A write blocks only
// when the pipe is full, i.e. the keeper has not read for a thousand
// messages: it is stopped or wedged.
const writeTimeout = time.Second

// Keeper is the agent's end of one fencing keeper: a separate process that
// stops an armed process at its deadline unless the agent confirms a later
// one first. Its methods are safe for concurrent use.
type Keeper struct {
	opts Options
	log  *slog.Logger
	// stallAfter: a keeper that leaves a message unread this long is
	// stopped or wedged, and is replaced. It must exceed the longest time
	// a healthy keeper spends not reading: a fence with its escalation.
	stallAfter time.Duration

	// proc is the current keeper process; it changes under mu, and is read
	// without it by Alive and PID, which must not wait for a restart.
	proc atomic.Pointer[keeperProc]

	mu     sync.Mutex
	armed  bool // what was last sent: an Arm, not a Disarm since
	target Process
	closed bool
	buf    []byte
}

// keeperProc is one keeper process.
type keeperProc struct {
	cmd       *exec.Cmd
	in        *os.File        // write end of the keeper's stdin
	inRaw     syscall.RawConn // in's, for FIONREAD
	drainedAt time.Time       // when its pipe was last seen empty; guarded by Keeper.mu
	done      chan struct{}   // closed when the process has exited and been reaped
	err       error           // its exit status, set before done is closed
	stopping  atomic.Bool     // its exit is expected (Close, or a kill for a restart)
}

func (p *keeperProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Start starts a keeper process: this executable (/proc/self/exe, the very
// binary that is running, even if its file has been replaced since) started
// again in a new session, with stdin a pipe from this process. ctx bounds
// the start only; the keeper outlives ctx, and this process too.
func Start(ctx context.Context, opts Options) (*Keeper, error) {
	opts = opts.withDefaults()
	k := &Keeper{opts: opts, log: opts.Logger, stallAfter: opts.KillAfter + escalateWait + 5*time.Second}
	p, err := k.spawn(ctx)
	if err != nil {
		return nil, err
	}
	k.proc.Store(p)
	return k, nil
}

// withDefaults fills in zero fields.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.KillAfter <= 0 {
		o.KillAfter = DefaultKillAfter
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o
}

// spawn starts a keeper process and waits until it reports ready.
func (k *Keeper) spawn(ctx context.Context) (*keeperProc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeeperFailed, err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("%w: %v", ErrKeeperFailed, err)
	}
	defer readyR.Close()
	out := k.opts.KeeperLog
	if out == nil {
		out = os.Stderr
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{keeperArg0,
			"-kill-after=" + k.opts.KillAfter.String(),
			"-agent=" + strconv.Itoa(os.Getpid()),
			"-data-dir=" + k.opts.DataDir},
		Env:        keeperEnv(os.Environ()),
		Dir:        "/",
		Stdin:      inR,
		Stderr:     out,
		ExtraFiles: []*os.File{readyW}, // fd 3 == readyFD
		// A new session: signals for the agent's process group or terminal
		// (SIGSTOP, SIGKILL, SIGINT, SIGHUP) do not reach the keeper.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	inR.Close()
	readyW.Close()
	if err != nil {
		inW.Close()
		return nil, fmt.Errorf("%w: start %s: %v", ErrKeeperFailed, keeperArg0, err)
	}
	raw, _ := inW.SyscallConn() // nil only if inW is not pollable: then no stall check
	p := &keeperProc{cmd: cmd, in: inW, inRaw: raw, drainedAt: time.Now(), done: make(chan struct{})}
	go k.reap(p)

	if err := waitReady(ctx, readyR); err != nil {
		p.stopping.Store(true)
		inW.Close()
		_ = cmd.Process.Kill()
		<-p.done
		if p.err != nil {
			err = fmt.Errorf("%v (keeper: %v)", err, p.err)
		}
		return nil, fmt.Errorf("%w: %s did not start: %v", ErrKeeperFailed, keeperArg0, err)
	}
	k.log.Info("fence: keeper started", "keeper_pid", cmd.Process.Pid)
	return p, nil
}

// keeperEnv is env with envKeeper set to this protocol's version.
func keeperEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, envKeeper+"=") {
			out = append(out, e)
		}
	}
	return append(out, envKeeper+"="+protocolVersion)
}

// waitReady reads the keeper's ready line, bounded by ctx.
func waitReady(ctx context.Context, r *os.File) error {
	if d, ok := ctx.Deadline(); ok {
		_ = r.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if want := "ready " + protocolVersion + "\n"; string(b) == want {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("no ready line (got %q)", b)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// reap waits for p to exit and reports an unexpected exit.
func (k *Keeper) reap(p *keeperProc) {
	err := p.cmd.Wait()
	p.err = err
	close(p.done)
	if !p.stopping.Load() {
		k.log.Error("fence: keeper exited; a new one starts at the next Arm",
			"keeper_pid", p.cmd.Process.Pid, "err", err)
	}
}

// Arm tells the keeper to stop p with SIGQUIT at deadline unless, before
// deadline, it is armed again for p with a later deadline or disarmed.
//
// Arming the process that is already armed only ever moves the deadline
// later: an earlier deadline is ignored. Arming another process (or arming
// when nothing is armed) replaces the target and sets the deadline as
// given, earlier or later. A deadline that has already passed stops p at
// once, unless p is armed with a later one. The keeper never stops p before
// deadline (read on the clock the agent reads it on); how much later it
// stops it is the subject of the package documentation.
//
// Arming p again is one write(2) of about 60 bytes to a pipe. Arming a new
// target first checks that it runs, and fails with [ErrNotRunning] if not.
// With Options.DataDir, the zero Process arms the data directory (no
// postmaster runs there now, say during a restart): the keeper stops
// whatever postmaster runs there at the deadline, and a postmaster whose
// arm is due after it exited is replaced the same way.
// If the keeper process has died, Arm starts a new one (bounded by
// Options.StartTimeout) and arms it; it fails with [ErrKeeperFailed] if it
// cannot. Arm fails with [ErrClosed] after Close.
func (k *Keeper) Arm(p Process, deadline time.Time) error {
	dirOnly := p == Process{} && k.opts.DataDir != ""
	if (p.PID <= 0 && !dirOnly) || deadline.IsZero() {
		return fmt.Errorf("fence: arm: invalid process %v or deadline %v", p, deadline)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	if !dirOnly && (!k.armed || k.target != p) && !p.Running() {
		return fmt.Errorf("fence: arm %v: %w", p, ErrNotRunning)
	}
	// Read Go's monotonic clock first, then CLOCK_BOOTTIME: the deadline on
	// the keeper's clock then comes out no earlier than the real one.
	now := time.Now()
	b := boottime()
	m := message{kind: msgArm, stamp: b, target: p, deadline: addSat(b, deadline.Sub(now))}
	if err := k.send(m, true); err != nil {
		return fmt.Errorf("fence: arm %v: %w", p, err)
	}
	k.armed, k.target = true, p
	return nil
}

// addSat returns b+d, saturating instead of overflowing.
func addSat(b int64, d time.Duration) int64 {
	if d > 0 && b > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	if d < 0 && b < math.MinInt64-int64(d) {
		return math.MinInt64
	}
	return b + int64(d)
}

// Disarm tells the keeper to stop nothing. It returns nil once no keeper
// process holds an arming: also when the keeper has died, and when it was
// not reading its pipe and has been killed. Disarming after the keeper
// fired does nothing.
func (k *Keeper) Disarm() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	k.armed = false
	err := k.send(message{kind: msgDisarm, stamp: boottime()}, false)
	if errors.Is(err, ErrKeeperFailed) {
		return nil // no keeper process runs now
	}
	return err
}

// send writes m to the keeper process. A keeper that has died, or that
// does not take the write within writeTimeout, is killed (unless dead) and,
// if restart, replaced once. Called with k.mu held.
func (k *Keeper) send(m message, restart bool) error {
	k.buf = appendMessage(k.buf[:0], m)
	for attempt := 0; ; attempt++ {
		p := k.proc.Load()
		if p == nil || !p.alive() {
			if !restart || attempt > 1 {
				return fmt.Errorf("%w: keeper process exited", ErrKeeperFailed)
			}
			k.log.Warn("fence: starting a new keeper: the previous one exited")
			ctx, cancel := context.WithTimeout(context.Background(), k.opts.StartTimeout)
			np, err := k.spawn(ctx)
			cancel()
			if err != nil {
				return err
			}
			k.proc.Store(np)
			continue
		}
		err := k.stalled(p)
		if err == nil {
			_ = p.in.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, err = p.in.Write(k.buf)
			if err == nil {
				return nil
			}
		}
		k.log.Error("fence: keeper not taking messages: killing it", "keeper_pid", p.cmd.Process.Pid, "err", err)
		k.stop(p, 0)
		if attempt > 0 {
			return fmt.Errorf("%w: %v", ErrKeeperFailed, err)
		}
	}
}

// stalled returns an error if p has left a message unread for stallAfter
// (TIOCINQ is FIONREAD: the bytes in the pipe, from either end).
// Called with k.mu held.
func (k *Keeper) stalled(p *keeperProc) error {
	if p.inRaw == nil {
		return nil
	}
	unread := 0
	_ = p.inRaw.Control(func(fd uintptr) { unread, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	now := time.Now()
	if unread == 0 {
		p.drainedAt = now
		return nil
	}
	if d := now.Sub(p.drainedAt); d > k.stallAfter {
		return fmt.Errorf("%d bytes unread for %v", unread, d.Round(time.Millisecond))
	}
	return nil
}

// stop ends p: it closes p's pipe, which makes an unarmed keeper exit,
// waits up to grace, then kills it. It reports whether p exited within
// grace.
func (k *Keeper) stop(p *keeperProc, grace time.Duration) bool {
	p.stopping.Store(true)
	p.in.Close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return false
}

// Close disarms the keeper and ends it: it returns once the keeper process
// has exited. A keeper that is fencing at that moment finishes first
// (bounded by KillAfter and 10 s more; then it is killed and Close reports
// it). Close is idempotent; afterwards Arm and Disarm fail with ErrClosed.
func (k *Keeper) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.armed = false
	p := k.proc.Load()
	if p == nil || !p.alive() {
		return nil
	}
	k.buf = appendMessage(k.buf[:0], message{kind: msgDisarm, stamp: boottime()})
	_ = p.in.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, _ = p.in.Write(k.buf)
	if !k.stop(p, k.opts.KillAfter+10*time.Second) {
		return fmt.Errorf("fence: close: keeper %d did not exit; killed it", p.cmd.Process.Pid)
	}
	return nil
}

// Alive reports whether a keeper process is running. When it is not,
// nothing is armed until the next Arm, which starts a new one. It never
// waits (not even for an Arm that is starting a keeper), so a health check
// may call it.
func (k *Keeper) Alive() bool {
	p := k.proc.Load()
	return p != nil && p.alive()
}

// PID returns the pid of the current keeper process, also after it has
// exited; 0 if there is none.
func (k *Keeper) PID() int {
	p := k.proc.Load()
	if p == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
