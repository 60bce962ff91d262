package haproxycfg

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"time"
)

// CommandReloader is the [Reloader] of an HAProxy that something else runs
// (systemd, a container runtime): pgha only writes the configuration and
// asks for a reload. It validates with "haproxy -c", saves server states
// when ServerStateFile is set, runs Command (no shell) and waits until a
// new worker answers on the stats socket.
type CommandReloader struct {
	// Bin is the haproxy binary used for validation; "" looks up "haproxy".
	Bin string
	// Command is the reload command, for example
	// ["systemctl", "reload", "haproxy"]. Required.
	Command []string
	// StatsSocket is the runtime API socket of the running HAProxy.
	// Required.
	StatsSocket string
	// ConfigPath and ServerStateFile, when ServerStateFile is set, are used
	// to save server states before the reload (see [Process.Reload]).
	ConfigPath      string
	ServerStateFile string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate runs "haproxy -c -f path".
func (c *CommandReloader) Validate(ctx context.Context, path string) error {
	bin, err := lookBin(c.Bin, "haproxy")
	if err != nil {
		return err
	}
	return Validate(ctx, bin, path)
}

// Reload runs Command and returns once a worker other than the one before
// answers on the stats socket.
func (c *CommandReloader) Reload(ctx context.Context) error {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return fmt.Errorf("haproxycfg: CommandReloader without Command: %w", ErrInvalid)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	old, err := workerPID(ctx, c.StatsSocket)
	if err != nil {
		return fmt.Errorf("haproxycfg: reload: HAProxy does not answer before the reload: %w", err)
	}
	if c.ServerStateFile != "" && c.ConfigPath != "" {
		if err := saveServerState(ctx, c.StatsSocket, c.ConfigPath, c.ServerStateFile); err != nil {
			log.Warn("could not save server state before reload", "err", err)
		}
	}
	out, err := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxycfg: reload command %q: %w: %s", c.Command, err, quoteShort(string(out)))
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		pid, err := workerPID(ctx, c.StatsSocket)
		if err == nil && pid != old {
			log.Info("haproxy reloaded", "old_worker", old, "worker", pid)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("haproxycfg: reload: no new worker after %q: %w", c.Command, ctx.Err())
		case <-t.C:
		}
	}
}

// workerPID asks the runtime API at socket for its worker's pid.
func workerPID(ctx context.Context, socket string) (int, error) {
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := RuntimeCommand(short, socket, "show info")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(infoField(info, "Pid"))
	if err != nil {
		return 0, fmt.Errorf("haproxycfg: show info without Pid: %s", quoteShort(info))
	}
	return pid, nil
}
