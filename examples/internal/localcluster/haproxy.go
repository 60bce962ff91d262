package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pgha/pgha/haproxycfg"
)

// startHAProxy renders a static configuration over the known nodes (the
// membership of a local cluster never changes; roles come from the
// health checks) and starts HAProxy in master-worker mode.
func (c *Cluster) startHAProxy(ctx context.Context) error {
	dir := filepath.Join(c.dir, "haproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	servers := make([]haproxycfg.Server, 0, len(c.nodes))
	for _, n := range c.nodes {
		servers = append(servers, haproxycfg.Server{Name: n.name, Host: "127.0.0.1", Port: n.pgPort, CheckPort: n.apiPort})
	}
	o := haproxycfg.DefaultOptions()
	o.BindAddress = "127.0.0.1"
	o.ReadWritePort, o.ReadOnlyPort, o.StatsPort = c.rwPort, c.roPort, 0
	o.StatsSocket = filepath.Join(dir, "admin.sock")
	o.ServerStateFile = filepath.Join(dir, "server-state")
	cfg, err := haproxycfg.Render(servers, o)
	if err != nil {
		return fmt.Errorf("localcluster: render haproxy.cfg: %w", err)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "haproxy.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	// HAProxy's own messages go to its log file, not to the progress output.
	c.haproxyLog = logf
	p, err := haproxycfg.NewProcess(haproxycfg.ProcessConfig{
		Bin: c.opts.HAProxyBin, ConfigPath: path, StatsSocket: o.StatsSocket, ServerStateFile: o.ServerStateFile,
		Logger: slog.New(slog.NewTextHandler(logf, nil)),
	})
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	if err := p.Validate(ctx, path); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("localcluster: start haproxy: %w", err)
	}
	c.haproxy = p
	c.log.Info("localcluster: haproxy started", "read_write", c.ReadWriteAddr(), "read_only", c.ReadOnlyAddr(), "config", path)
	return nil
}
