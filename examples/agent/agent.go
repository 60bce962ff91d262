package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
)

// shutdownTimeout bounds the REST API's graceful shutdown after the HA
// loop has handed over.
const shutdownTimeout = 5 * time.Second

// agent is one running node: the HA loop, the REST API, and the
// configuration reloads.
type agent struct {
	path string
	env  []string
	logs *logging
	log  *slog.Logger
	comp *components

	// running is the configuration the agent started with: changes to
	// anything but the runtime settings are compared against it.
	running *agentconfig.Config
	// applied is running plus the runtime changes applied by SIGHUP.
	applied *agentconfig.Config

	bootstrapped chan struct{}
	wg           sync.WaitGroup
}

// newAgent builds the agent's parts from a validated configuration.
func newAgent(cfg *agentconfig.Config, path string, env []string, logs *logging) (*agent, error) {
	comp, err := newComponents(cfg, logs.logger, logs.out)
	if err != nil {
		return nil, err
	}
	return &agent{
		path: path, env: env, logs: logs, log: logs.logger, comp: comp,
		running: cfg, applied: cfg,
		bootstrapped: make(chan struct{}, 1),
	}, nil
}

// onEvent is the Controller's event hook; it must not block.
func (a *agent) onEvent(ev failover.Event) {
	if ev.Kind == failover.EventBootstrapped {
		select {
		case a.bootstrapped <- struct{}{}:
		default:
		}
	}
}

// run serves the REST API and runs the HA loop until ctx ends (then the
// loop hands leadership over) or the API listener fails. SIGHUPs arrive
// on hup.
func (a *agent) run(ctx context.Context, hup <-chan os.Signal) error {
	defer func() {
		if err := a.comp.close(); err != nil {
			a.log.Warn("agent: closing the DCS client", "err", err)
		}
	}()
	cfg := a.running
	dynamic := readDynamicConfig(ctx, a.comp.store, a.log)
	ctrl, err := failover.NewController(controllerOptions(cfg, a.comp.store, a.comp.inst, a.comp.wd, dynamic, a.log, a.onEvent))
	if err != nil {
		return err
	}
	hopts, err := handlerOptions(cfg, ctrl, a.log)
	if err != nil {
		return err
	}
	// POST /reload does what SIGHUP does (Patroni's semantics): re-read
	// the file, apply it, then reload PostgreSQL. The file is re-read on
	// this goroutine only, so the two never race.
	reloads := make(chan chan struct{})
	hopts.Manager = &reloadingManager{Controller: ctrl, reloads: reloads}
	if hopts.AllowUnauthenticated {
		a.log.Warn("restapi: no authentication configured: management endpoints (switchover, restart, config) are open to anyone who reaches " + cfg.RestAPI.Listen)
	}
	handler, err := healthapi.New(hopts)
	if err != nil {
		return fmt.Errorf("restapi: %w", err)
	}
	sopts, err := cfg.HealthServerOptions(a.log)
	if err != nil {
		return fmt.Errorf("restapi: %w", err)
	}
	srv := healthapi.NewServer(handler, sopts)
	ln, err := net.Listen("tcp", sopts.Addr)
	if err != nil {
		return fmt.Errorf("restapi: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if sopts.TLS != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	a.log.Info("agent: started", "member", cfg.Name, "scope", cfg.Scope, "restapi", ln.Addr().String(),
		"api_url", cfg.APIURL(), "conn_url", cfg.ConnURL(), "dcs", cfg.DCSKind())

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(loopCtx) }()

	var runErr error
	for loopDone := false; !loopDone; {
		select {
		case <-hup:
			a.reload(loopCtx)
		case done := <-reloads:
			a.reload(loopCtx)
			close(done)
		case <-a.bootstrapped:
			a.wg.Go(func() { a.createUsers(loopCtx, cfg) })
		case err := <-serveErr:
			runErr = fmt.Errorf("restapi: %w", err)
			a.log.Error("agent: REST API failed; stopping", "err", err)
			stopLoop()
		case err := <-done:
			loopDone = true
			if err != nil && runErr == nil {
				runErr = err
			}
		}
	}
	stopLoop()
	a.wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn("restapi: shutdown", "err", err)
	}
	a.log.Info("agent: stopped")
	return runErr
}
