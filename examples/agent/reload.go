package main

import (
	"context"
	"log/slog"
	"maps"
	"reflect"
	"slices"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
)

// reloadPlan is what a SIGHUP changes.
type reloadPlan struct {
	// level is the new log level when it changed.
	level *slog.Level
	// set are PostgreSQL parameters to set (new or changed values), reset
	// those to return to their defaults (removed from the configuration).
	set   map[string]string
	reset []string
	// restart names the settings that changed but only take effect when
	// the agent restarts.
	restart []string
	// bootstrap is true when the bootstrap section changed: it is only
	// used when a cluster is initialized.
	bootstrap bool
}

// empty reports whether the plan changes nothing.
func (p reloadPlan) empty() bool {
	return p.level == nil && len(p.set) == 0 && len(p.reset) == 0 && len(p.restart) == 0 && !p.bootstrap
}

// planReload compares the new configuration with the one the agent
// started with (running: settings that need a restart) and the one last
// applied (applied: settings changed at runtime).
func planReload(running, applied, next *agentconfig.Config) reloadPlan {
	var p reloadPlan
	if lv := next.LogLevel(); lv != applied.LogLevel() {
		p.level = &lv
	}
	oldParams, newParams := applied.ServerParameters(), next.ServerParameters()
	for k, v := range newParams {
		if old, ok := oldParams[k]; !ok || old != v {
			if p.set == nil {
				p.set = map[string]string{}
			}
			p.set[k] = v
		}
	}
	for k := range oldParams {
		if _, ok := newParams[k]; !ok {
			p.reset = append(p.reset, k)
		}
	}
	slices.Sort(p.reset)

	r, n := running, next
	changed := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			p.restart = append(p.restart, name)
		}
	}
	changed("scope", r.Scope, n.Scope)
	changed("namespace", r.Namespace, n.Namespace)
	changed("name", r.Name, n.Name)
	changed("log.type", r.Log.Type, n.Log.Type)
	changed("restapi", r.RestAPI, n.RestAPI)
	changed("etcd3", [2]any{r.Etcd3, r.Etcd}, [2]any{n.Etcd3, n.Etcd})
	changed("consul", r.Consul, n.Consul)
	rp, np := r.Postgres, n.Postgres
	changed("postgresql.listen", rp.Listen, np.Listen)
	changed("postgresql.connect_address", rp.ConnectAddress, np.ConnectAddress)
	changed("postgresql.proxy_address", rp.ProxyAddress, np.ProxyAddress)
	changed("postgresql.data_dir", rp.DataDir, np.DataDir)
	changed("postgresql.bin_dir", rp.BinDir, np.BinDir)
	changed("postgresql.run_as_user", rp.RunAsUser, np.RunAsUser)
	changed("postgresql.authentication", rp.Authentication, np.Authentication)
	changed("postgresql.pg_hba", rp.PgHBA, np.PgHBA)
	changed("postgresql.recovery_conf", rp.RecoveryConf, np.RecoveryConf)
	changed("postgresql.create_replica_methods", [2]any{rp.CreateReplicaMethods, rp.Methods}, [2]any{np.CreateReplicaMethods, np.Methods})
	changed("postgresql.parameters.unix_socket_directories", socketDir(r), socketDir(n))
	changed("tags", r.Tags, n.Tags)
	p.bootstrap = !reflect.DeepEqual(r.Bootstrap.DCS.TTL, n.Bootstrap.DCS.TTL) ||
		!reflect.DeepEqual(r.Bootstrap.Initdb, n.Bootstrap.Initdb) ||
		!reflect.DeepEqual(r.Bootstrap.Users, n.Bootstrap.Users) ||
		!reflect.DeepEqual(r.BootstrapOptions(), n.BootstrapOptions()) ||
		!reflect.DeepEqual(r.ClusterConfig(), n.ClusterConfig())
	return p
}

// socketDir is the effective unix_socket_directories.
func socketDir(c *agentconfig.Config) string {
	lc, err := c.PGLocalConfig(nil)
	if err != nil {
		return ""
	}
	return lc.SocketDir
}

// reload re-reads the configuration file (SIGHUP) and applies what can
// change at runtime. An invalid file changes nothing.
func (a *agent) reload(ctx context.Context) {
	a.log.Info("config: reloading", "file", a.path)
	ld, err := loadConfig(a.path, a.env)
	if err != nil {
		a.log.Error("config: reload refused, keeping the current configuration", "err", err)
		return
	}
	for _, w := range ld.warnings {
		a.log.Warn("config: setting not used", "warning", w.String())
	}
	p := planReload(a.running, a.applied, ld.cfg)
	if p.empty() {
		a.log.Info("config: nothing changed")
		return
	}
	if p.level != nil {
		a.logs.level.Set(*p.level)
		a.log.Info("config: log level changed", "level", p.level.String())
	}
	if len(p.set) > 0 || len(p.reset) > 0 {
		if err := a.applyParameters(ctx, ld.cfg, p); err != nil {
			a.log.Error("config: PostgreSQL parameters not applied; SIGHUP again to retry", "err", err)
			// Keep the old parameters as applied so that a retry sees the diff.
			next := *ld.cfg
			next.Postgres.Parameters = a.applied.Postgres.Parameters
			next.Bootstrap.DCS.Postgresql.Parameters = a.applied.Bootstrap.DCS.Postgresql.Parameters
			ld.cfg = &next
		}
	}
	if len(p.restart) > 0 {
		a.log.Warn("config: these settings changed but need an agent restart to take effect", "settings", p.restart)
	}
	if p.bootstrap {
		a.log.Warn("config: bootstrap changed: it is only used when a new cluster is initialized; change a running cluster with pgha-ctl edit-config")
	}
	a.applied = ld.cfg
}

// applyParameters hands the member's parameters, as the file now gives
// them, to PostgreSQL (pglocal.Local.ApplyLocalParameters: pgha.conf and a
// reload) and reports the settings that wait for a restart.
func (a *agent) applyParameters(ctx context.Context, cfg *agentconfig.Config, p reloadPlan) error {
	res, err := a.comp.inst.ApplyLocalParameters(ctx, cfg.ServerParameters())
	if err != nil {
		return err
	}
	a.log.Info("config: PostgreSQL parameters applied", "set", p.set, "reset", p.reset, "reloaded", res.Reloaded)
	for _, w := range res.Warnings {
		a.log.Warn("config: PostgreSQL parameter", "warning", w)
	}
	if len(res.PendingRestart) > 0 {
		a.log.Warn("config: PostgreSQL parameters need a restart to take effect (pgha-ctl restart --pending)",
			"parameters", slices.Sorted(maps.Keys(res.PendingRestart)))
	}
	return nil
}

// reloadingManager is the Controller as healthapi's Manager, with POST
// /reload re-reading the configuration file first, on the agent's main
// goroutine. It embeds the Controller itself, not the Manager interface,
// so that the optional interfaces healthapi looks for (FailsafeManager)
// stay visible.
type reloadingManager struct {
	*failover.Controller
	reloads chan<- chan struct{}
}

var (
	_ healthapi.Manager         = (*reloadingManager)(nil)
	_ healthapi.FailsafeManager = (*reloadingManager)(nil)
)

// Reload re-reads and applies the file as SIGHUP does, then reloads
// PostgreSQL.
func (m *reloadingManager) Reload(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case m.reloads <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return m.Controller.Reload(ctx)
}
