package agentconfig

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/hookscript"
	"github.com/pgha/pgha/pg"
)

// ControllerOptions returns the options of this node's
// [failover.Controller]: name, scope, the member's conn_url and api_url,
// tags, the settings, what a bootstrap uses (bootstrap.dcs as the config
// key a new cluster starts with, bootstrap.initdb) and the basic
// authentication sent to peers (restapi.authentication, which the members
// share, as in Patroni). store and inst are this node's DCS client
// ([Config.NewStore], scoped by namespace and scope) and PostgreSQL (for
// example pglocal.New of [Config.PGLocalConfig]).
//
// dynamic is the cluster's config key when it exists (dcs.Parse of a
// snapshot), else nil. As in Patroni, bootstrap.dcs only seeds a new
// cluster's key: the settings are pgha's defaults, which the Controller
// overlays with the key every cycle, so a value removed from the key falls
// back to pgha's default, not to this file. The exception is ttl, which
// sizes the first lease: without a key it is bootstrap.dcs.ttl, the value
// this node writes if it bootstraps. The election options are left zero:
// the Controller derives them from the settings' ttl.
//
// What is the embedder's policy rather than configuration stays unset:
// Version, ExitMode, Watchdog (see [Config.WatchdogConfig]), Logger,
// OnEvent, Clock.
func (c *Config) ControllerOptions(store dcs.Store, inst pg.Instance, dynamic *dcs.ClusterConfig) failover.ControllerOptions {
	boot := c.ClusterConfig()
	settings := failover.DefaultSettings().WithConfig(dynamic)
	if dynamic == nil {
		settings.TTL = dcs.Seconds(boot.TTL, settings.TTL)
	}
	bo := c.BootstrapOptions()
	var peerAuth *healthapi.BasicAuth
	if a := c.RestAPI.Authentication; a.Username != "" {
		peerAuth = &healthapi.BasicAuth{Username: a.Username, Password: a.Password}
	}
	return failover.ControllerOptions{
		Name:            c.Name,
		Scope:           c.Scope,
		Store:           store,
		Instance:        inst,
		ConnURL:         c.ConnURL(),
		APIURL:          c.APIURL(),
		ProxyURL:        c.ProxyURL(),
		Tags:            c.Tags,
		Settings:        settings,
		BootstrapConfig: boot,
		Bootstrap:       &bo,
		PeerAuth:        peerAuth,
		Hooks:           c.Hooks(nil),
	}
}

// Hooks returns the Controller hooks that run postgresql.callbacks,
// pre_promote and before_stop (package hookscript). Validate has refused
// a configuration whose scripts cannot be split or name an unknown
// callback; for one that was not validated, the scripts that cannot be
// run are left out and named in an error log line.
func (c *Config) Hooks(logger *slog.Logger) failover.Hooks {
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := c.hookScripts()
	if err != nil {
		logger.Error("config: hook scripts not run", "err", err)
		return failover.Hooks{}
	}
	cfg.Logger = logger
	h, err := hookscript.New(cfg)
	if err != nil {
		logger.Error("config: hook scripts not run", "err", err)
		return failover.Hooks{}
	}
	return h
}

// hookScripts splits the hook commands as Patroni does (shell words).
func (c *Config) hookScripts() (hookscript.Config, error) {
	p := c.Postgres
	var cfg hookscript.Config
	split := func(what, s string) ([]string, error) {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		if err := printable(s); err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
		w, err := hookscript.Split(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return w, nil
	}
	for _, name := range slices.Sorted(maps.Keys(p.Callbacks)) {
		switch name {
		case failover.HookOnStart, failover.HookOnStop, failover.HookOnRestart, failover.HookOnReload, failover.HookOnRoleChange:
		default:
			return cfg, fmt.Errorf("callbacks.%s: not a callback (on_start, on_stop, on_restart, on_reload, on_role_change)", name)
		}
		w, err := split("callbacks."+name, p.Callbacks[name])
		if err != nil {
			return cfg, err
		}
		if len(w) > 0 {
			if cfg.Callbacks == nil {
				cfg.Callbacks = map[string][]string{}
			}
			cfg.Callbacks[name] = w
		}
	}
	var err error
	if cfg.PrePromote, err = split("pre_promote", p.PrePromote); err != nil {
		return cfg, err
	}
	if cfg.BeforeStop, err = split("before_stop", p.BeforeStop); err != nil {
		return cfg, err
	}
	return cfg, nil
}
