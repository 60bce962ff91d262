package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/metrics"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
	"github.com/pgha/pgha/watchdog"
)

// version is published in member keys and GET /patroni.
const version = "pgha-agent"

// dcsReadTimeout bounds the start-up read of the cluster's config key.
const dcsReadTimeout = 5 * time.Second

// controllerOptions assembles the HA loop's options: those of the
// configuration (see agentconfig's Config.ControllerOptions: dynamic is the
// cluster's config key when it exists, else nil) and the agent's own.
func controllerOptions(cfg *agentconfig.Config, store dcs.Store, inst pg.Instance, wd failover.Watchdog, dynamic *dcs.ClusterConfig,
	logger *slog.Logger, onEvent func(failover.Event)) failover.ControllerOptions {
	o := cfg.ControllerOptions(store, inst, dynamic)
	o.Version = version
	o.ExitMode = failover.ExitHandOver
	o.Watchdog = wd
	o.Logger = logger
	o.OnEvent = onEvent
	return o
}

// handlerOptions assembles the REST API handler's options. Without
// restapi.authentication the management endpoints stay open, as in
// Patroni; the caller warns about it.
func handlerOptions(cfg *agentconfig.Config, ctrl *failover.Controller, logger *slog.Logger) (healthapi.Options, error) {
	auth, err := cfg.HealthAuth()
	if err != nil {
		return healthapi.Options{}, err
	}
	exp, err := metrics.New(ctrl, metrics.Options{Version: version, Logger: logger})
	if err != nil {
		return healthapi.Options{}, err
	}
	return healthapi.Options{
		Source:               ctrl,
		Manager:              ctrl,
		Auth:                 auth,
		AllowUnauthenticated: auth.Username == "" && !auth.RequireClientCert,
		Version:              version,
		Metrics:              exp,
		Logger:               logger,
	}, nil
}

// readDynamicConfig reads the cluster's config key, so that a node joining
// an existing cluster starts with the cluster's ttl rather than its own
// bootstrap.dcs. Absent key or unreachable DCS: nil (the loop overlays the
// key every cycle anyway; only ttl is fixed at start).
func readDynamicConfig(ctx context.Context, store dcs.Store, logger *slog.Logger) *dcs.ClusterConfig {
	rctx, cancel := context.WithTimeout(ctx, dcsReadTimeout)
	defer cancel()
	snap, err := store.Get(rctx)
	if err != nil {
		logger.Warn("agent: cannot read the cluster's config key at start; using bootstrap.dcs", "err", err)
		return nil
	}
	return dcs.Parse(snap).Config
}

// components are the assembled parts of a running agent.
type components struct {
	store dcs.Store
	inst  *pglocal.Local
	// wd is the watchdog a primary arms; nil with watchdog.mode off.
	wd failover.Watchdog
}

// newComponents connects the DCS client and checks the PostgreSQL setup;
// neither does network I/O yet. When the agent logs to a file (its
// stderr), the fence keeper process (package fence) inherits it for its
// own lines, so a fence it made while the agent was frozen or dead is in
// the agent's log; any other writer would be fed by a goroutine of the
// agent that stops with it, so the keeper's lines are then dropped.
func newComponents(cfg *agentconfig.Config, logger *slog.Logger, logOut io.Writer) (*components, error) {
	lc, err := cfg.PGLocalConfig(logger)
	if err != nil {
		return nil, err
	}
	if f, ok := logOut.(*os.File); ok {
		lc.FenceKeeperLog = f
	}
	inst, err := pglocal.New(lc)
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	wcfg, err := cfg.WatchdogConfig()
	if err != nil {
		return nil, err
	}
	var wd failover.Watchdog
	if wcfg.Mode != watchdog.ModeOff {
		w, err := watchdog.New(wcfg)
		if err != nil {
			return nil, fmt.Errorf("watchdog: %w", err)
		}
		wd = w
	}
	store, err := cfg.NewStore(logger)
	if err != nil {
		return nil, fmt.Errorf("dcs: %w", err)
	}
	return &components{store: store, inst: inst, wd: wd}, nil
}

// close releases the DCS client.
func (c *components) close() error {
	if cl, ok := c.store.(interface{ Close() error }); ok {
		if err := cl.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}
