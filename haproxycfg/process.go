package haproxycfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned by [Process] methods that need a running HAProxy.
var ErrNotRunning = errors.New("haproxycfg: haproxy is not running")

// ProcessConfig describes how to run HAProxy.
type ProcessConfig struct {
	// Bin is the haproxy binary; "" looks up "haproxy" on PATH.
	Bin string
	// ConfigPath is the configuration file HAProxy loads at start and on
	// every reload. Required.
	ConfigPath string
	// StatsSocket is the runtime API socket the configuration declares
	// ([Options.StatsSocket]); Process uses it to see when a worker is ready
	// and to save server states. Required.
	StatsSocket string
	// ServerStateFile, when set, must equal [Options.ServerStateFile]:
	// Reload saves the server states there first.
	ServerStateFile string
	// PIDFile, when set, receives the master's pid (-p).
	PIDFile string
	// Wrapper, when set, is a command that HAProxy is run under, with
	// HAProxy's command line appended: for example "ip netns exec NAME" or
	// "chpst -u haproxy". It must exec HAProxy in place (signals go to the
	// wrapper's pid).
	Wrapper []string
	// Logger receives HAProxy's own messages and lifecycle events; default
	// slog.Default().
	Logger *slog.Logger
}

// Process runs HAProxy in master-worker mode (-W): the master, a child of
// this process, re-executes itself on SIGUSR2, starts a worker with the new
// configuration and lets the old worker finish its established connections
// (soft stop), so a reload drops no session. Methods are safe for concurrent
// use.
type Process struct {
	cfg ProcessConfig
	log *slog.Logger

	child // the master

	mu     sync.Mutex
	worker int // current worker pid
}

// NewProcess checks cfg and returns a Process that is not started yet.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	bin, err := lookBin(cfg.Bin, "haproxy")
	if err != nil {
		return nil, err
	}
	cfg.Bin = bin
	if err := validatePath("ConfigPath", cfg.ConfigPath); err != nil {
		return nil, err
	}
	if err := validatePath("StatsSocket", cfg.StatsSocket); err != nil {
		return nil, err
	}
	if cfg.ServerStateFile != "" {
		if err := validatePath("ServerStateFile", cfg.ServerStateFile); err != nil {
			return nil, err
		}
	}
	if cfg.PIDFile != "" {
		if err := validatePath("PIDFile", cfg.PIDFile); err != nil {
			return nil, err
		}
	}
	if len(cfg.Wrapper) > 0 && cfg.Wrapper[0] == "" {
		return nil, fieldErr("", "Wrapper", "empty program")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Process{cfg: cfg, log: log.With("component", "haproxy")}, nil
}

// lookBin returns bin when it is set, else the program name (haproxy,
// keepalived) found on PATH. The error names the Debian package, which has
// the program's name.
func lookBin(bin, name string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	found, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("haproxycfg: %s binary not found (Debian package %s): %w", name, name, err)
	}
	return found, nil
}

// Config returns the configuration the Process was created with (Bin
// resolved).
func (p *Process) Config() ProcessConfig { return p.cfg }

// Validate runs "haproxy -c -f path" with this Process's binary.
func (p *Process) Validate(ctx context.Context, path string) error {
	return Validate(ctx, p.cfg.Bin, path)
}

// Validate runs "haproxy -c -f path"; a rejected configuration returns an
// error carrying HAProxy's alerts.
func Validate(ctx context.Context, bin, path string) error {
	out, err := exec.CommandContext(ctx, bin, "-c", "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxycfg: haproxy -c -f %s: %w: %s", path, err, alerts(out))
	}
	return nil
}

// alerts keeps the ALERT lines of HAProxy's output (all of it if none).
func alerts(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[ALERT]") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(string(out))
	}
	return strings.Join(keep, "; ")
}

// Start launches the master and returns once a worker answers on the stats
// socket, or with an error when HAProxy exits or ctx ends first (HAProxy is
// then stopped). The process outlives ctx; end it with [Process.Stop].
func (p *Process) Start(ctx context.Context) error {
	args := []string{"-W", "-f", p.cfg.ConfigPath}
	if p.cfg.PIDFile != "" {
		args = append(args, "-p", p.cfg.PIDFile)
	}
	cmd, _, err := p.start(p.cfg.Bin, p.cfg.Wrapper, args, p.log)
	if err != nil {
		return err
	}
	p.log.Info("haproxy started", "master_pid", cmd.Process.Pid, "config", p.cfg.ConfigPath)

	pid, err := p.waitWorker(ctx, 0)
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = p.Stop(stopCtx)
		return fmt.Errorf("haproxycfg: haproxy did not become ready: %w", err)
	}
	p.mu.Lock()
	p.worker = pid
	p.mu.Unlock()
	return nil
}

// waitWorker polls "show info" until a worker other than old answers.
func (p *Process) waitWorker(ctx context.Context, old int) (int, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var last error
	for {
		pid, err := p.WorkerPID(ctx)
		if err == nil && pid != old {
			return pid, nil
		}
		if err == nil {
			err = fmt.Errorf("old worker %d still answers", pid)
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-p.Done():
			return 0, fmt.Errorf("%w: %v", ErrNotRunning, p.Err())
		case <-t.C:
		}
	}
}

// WorkerPID asks the runtime API for the pid of the worker answering it.
func (p *Process) WorkerPID(ctx context.Context) (int, error) {
	return workerPID(ctx, p.cfg.StatsSocket)
}

// Runtime sends one command to the runtime API (see [RuntimeCommand]).
func (p *Process) Runtime(ctx context.Context, cmd string) (string, error) {
	return RuntimeCommand(ctx, p.cfg.StatsSocket, cmd)
}

// Reload makes HAProxy load ConfigPath again without dropping connections:
// it saves server states (when ServerStateFile is set, so the new worker
// keeps every known server's up/down state instead of starting them all
// up), signals the master (SIGUSR2) and waits until a new worker answers on
// the stats socket. Validate the file first: a configuration the master
// rejects leaves the old worker serving and Reload waiting until ctx ends.
func (p *Process) Reload(ctx context.Context) error {
	cmd := p.running()
	p.mu.Lock()
	old := p.worker
	p.mu.Unlock()
	if cmd == nil {
		return ErrNotRunning
	}
	if p.cfg.ServerStateFile != "" {
		if err := p.saveServerState(ctx); err != nil {
			// Not fatal: the new worker starts servers up until checked.
			p.log.Warn("could not save server state before reload", "err", err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return fmt.Errorf("haproxycfg: signal reload: %w", err)
	}
	pid, err := p.waitWorker(ctx, old)
	if err != nil {
		return fmt.Errorf("haproxycfg: reload: %w", err)
	}
	p.mu.Lock()
	p.worker = pid
	p.mu.Unlock()
	p.log.Info("haproxy reloaded", "old_worker", old, "worker", pid)
	return nil
}

func (p *Process) saveServerState(ctx context.Context) error {
	return saveServerState(ctx, p.cfg.StatsSocket, p.cfg.ConfigPath, p.cfg.ServerStateFile)
}

// saveServerState writes the running worker's server states, plus the
// servers new in configPath as down, to stateFile.
func saveServerState(ctx context.Context, socket, configPath, stateFile string) error {
	out, err := RuntimeCommand(ctx, socket, "show servers state")
	if err != nil {
		return err
	}
	states, err := parseServersState(out)
	if err != nil {
		return err
	}
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	out = strings.TrimRight(out, "\n") + "\n" + newServersDown(string(cfg), states)
	return WriteFileAtomic(stateFile, []byte(out), 0o600)
}

// newServersDown returns server-state lines (format version 1) marking
// every health-checked server of cfg that the running worker does not know
// as down (and, when rendered "disabled", in maintenance). Without them HAProxy starts a new server up until its first
// check, so a replica that just joined would briefly receive read-write
// connections. Lines only use names and addresses from cfg, and are only
// produced for server lines of the shape Render writes.
func newServersDown(cfg string, known []ServerState) string {
	have := map[string]bool{}
	for _, s := range known {
		have[s.Backend+"/"+s.Server] = true
	}
	var b strings.Builder
	proxy := ""
	for _, l := range strings.Split(cfg, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if !strings.HasPrefix(l, " ") {
			proxy = ""
			if (f[0] == "listen" || f[0] == "backend") && len(f) > 1 {
				proxy = f[1]
			}
			continue
		}
		if proxy == "" || f[0] != "server" || len(f) < 4 || f[3] != "check" || have[proxy+"/"+f[1]] {
			continue
		}
		i := strings.LastIndexByte(f[2], ':')
		if i < 0 {
			continue
		}
		addr, port := strings.Trim(f[2][:i], "[]"), f[2][i+1:]
		checkPort := port
		if j := slices.Index(f, "port"); j > 0 && j+1 < len(f) {
			checkPort = f[j+1]
		}
		if !isIP(addr) {
			continue // resolved at start; the state file cannot name it
		}
		// be_id be_name srv_id srv_name srv_addr srv_op_state(0 = stopped)
		// srv_admin_state srv_uweight srv_iweight srv_time_since_last_change
		// srv_check_status srv_check_result(2 = failed) srv_check_health(0)
		// srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id
		// srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port
		// srv_check_addr srv_agent_addr srv_agent_port
		// A server rendered "disabled" (RuntimeRouting) keeps its forced
		// maintenance (1) and configuration maintenance (4) bits: a state
		// line saying 0 would enable it.
		admin := 0
		if slices.Contains(f[4:], "disabled") {
			admin = adminForcedMaint | adminConfigMaint
		}
		fmt.Fprintf(&b, "0 %s 0 %s %s 0 %d 1 1 0 8 2 0 6 0 0 0 - %s - 0 %s - - 0\n", proxy, f[1], addr, admin, port, checkPort)
	}
	return b.String()
}

// Stop ends HAProxy: SIGTERM to the master (workers stop at once, closing
// their connections), then SIGKILL if it has not exited when ctx ends.
// Stopping a process that is not running is not an error.
func (p *Process) Stop(ctx context.Context) error { return p.stop(ctx, "haproxy") }

// MasterPID returns the master's pid, 0 before Start.
func (p *Process) MasterPID() int { return p.pid() }

// logWriter turns HAProxy's output into log records, one per line, at a
// level derived from HAProxy's own tag.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		l := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		if l == "" {
			continue
		}
		level := slog.LevelInfo
		switch {
		case strings.HasPrefix(l, "[ALERT]"):
			level = slog.LevelError
		case strings.HasPrefix(l, "[WARNING]"):
			level = slog.LevelWarn
		}
		w.log.Log(context.Background(), level, l)
	}
	if len(w.buf) > 64<<10 { // a line without end: flush it anyway
		w.log.Info(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
