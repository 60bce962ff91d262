package haproxycfg

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KeepalivedConfig describes how to run Keepalived (VRRP only).
type KeepalivedConfig struct {
	// Bin is the keepalived binary; "" looks up "keepalived" on PATH.
	Bin string
	// ConfigPath is the keepalived.conf to load ([RenderKeepalived]).
	// Required.
	ConfigPath string
	// RunDir receives the pid files (keepalived.pid, vrrp.pid), so that
	// this instance does not collide with a system Keepalived. Required.
	RunDir string
	// Wrapper, as in [ProcessConfig], runs Keepalived under a command
	// that execs it in place ("ip netns exec NAME").
	Wrapper []string
	// Logger receives Keepalived's console log; default slog.Default().
	Logger *slog.Logger
}

// Keepalived runs Keepalived in the foreground as a child of this process.
// Methods are safe for concurrent use.
type Keepalived struct {
	cfg KeepalivedConfig
	log *slog.Logger
	child
}

// NewKeepalived checks cfg and returns a Keepalived that is not started.
func NewKeepalived(cfg KeepalivedConfig) (*Keepalived, error) {
	bin, err := lookBin(cfg.Bin, "keepalived")
	if err != nil {
		return nil, err
	}
	cfg.Bin = bin
	if err := validatePath("ConfigPath", cfg.ConfigPath); err != nil {
		return nil, err
	}
	if err := validatePath("RunDir", cfg.RunDir); err != nil {
		return nil, err
	}
	if len(cfg.Wrapper) > 0 && cfg.Wrapper[0] == "" {
		return nil, fieldErr("", "Wrapper", "empty program")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Keepalived{cfg: cfg, log: log.With("component", "keepalived")}, nil
}

// ValidateKeepalived runs "keepalived --config-test -f path". Keepalived
// checks that the interfaces exist and refuses scripts without
// enable_script_security ([KeepalivedOptions.ScriptUser]).
func ValidateKeepalived(ctx context.Context, bin, path string) error {
	return validateKeepalived(ctx, nil, bin, path)
}

func validateKeepalived(ctx context.Context, wrapper []string, bin, path string) error {
	argv := append(append(append([]string(nil), wrapper...), bin), "--config-test", "-f", path)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxycfg: keepalived --config-test -f %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Validate checks a candidate keepalived.conf with this binary, under the
// Wrapper (where the interfaces are).
func (k *Keepalived) Validate(ctx context.Context, path string) error {
	return validateKeepalived(ctx, k.cfg.Wrapper, k.cfg.Bin, path)
}

// Start launches Keepalived and returns once its VRRP process has written
// its pid file, or with an error when it exits or ctx ends first.
func (k *Keepalived) Start(ctx context.Context) error {
	vrrpPID := filepath.Join(k.cfg.RunDir, "vrrp.pid")
	_ = os.Remove(vrrpPID)
	args := []string{"--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
		"--use-file", k.cfg.ConfigPath,
		"--pid", filepath.Join(k.cfg.RunDir, "keepalived.pid"),
		"--vrrp_pid", vrrpPID}
	cmd, done, err := k.start(k.cfg.Bin, k.cfg.Wrapper, args, k.log)
	if err != nil {
		return err
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(vrrpPID); err == nil {
			k.log.Info("keepalived started", "pid", cmd.Process.Pid, "config", k.cfg.ConfigPath)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("haproxycfg: keepalived exited at start: %v", k.Err())
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = k.Stop(stopCtx)
			return fmt.Errorf("haproxycfg: keepalived did not start: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Reload makes Keepalived re-read its configuration (SIGHUP).
func (k *Keepalived) Reload() error {
	cmd := k.running()
	if cmd == nil {
		return fmt.Errorf("haproxycfg: keepalived is not running")
	}
	return cmd.Process.Signal(syscall.SIGHUP)
}

// Stop ends Keepalived (SIGTERM: it releases the virtual IPs), then
// SIGKILL if it has not exited when ctx ends. Stopping one that is not
// running is not an error.
func (k *Keepalived) Stop(ctx context.Context) error { return k.stop(ctx, "keepalived") }

// PID returns the main Keepalived pid, 0 before Start.
func (k *Keepalived) PID() int { return k.pid() }
