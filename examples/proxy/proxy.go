package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pgha/pgha/haproxycfg"
)

// runProxy runs HAProxy's Syncer and Router (and Keepalived) until ctx ends
// or a managed child exits.
func runProxy(ctx context.Context, cfg *proxyConfig, logger *slog.Logger) error {
	store, err := cfg.agent.NewStore(logger)
	if err != nil {
		return fmt.Errorf("%w: DCS: %w", errConfig, err)
	}
	defer store.Close()

	var reloader haproxycfg.Reloader
	var haproxyDone <-chan struct{}
	if cfg.manage {
		proc, err := startHAProxy(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := proc.Stop(sctx); err != nil {
				logger.Warn("stop haproxy", "err", err)
			}
		}()
		reloader, haproxyDone = proc, proc.Done()
	} else {
		// Adopt: an HAProxy run by systemd (or similar) with this file.
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := haproxycfg.RuntimeCommand(short, cfg.process.StatsSocket, "show info")
		cancel()
		if err != nil {
			return fmt.Errorf("adopt: no HAProxy answers on %s: %w", cfg.process.StatsSocket, err)
		}
		reloader = &haproxycfg.CommandReloader{Bin: cfg.process.Bin, Command: cfg.reload, StatsSocket: cfg.process.StatsSocket,
			ConfigPath: cfg.process.ConfigPath, ServerStateFile: cfg.process.ServerStateFile, Logger: logger}
		logger.Info("adopted a running haproxy", "socket", cfg.process.StatsSocket)
	}

	var router *haproxycfg.Router
	if cfg.routing {
		router, err = haproxycfg.NewRouter(haproxycfg.RouterOptions{StatsSocket: cfg.render.StatsSocket,
			CheckTLS: cfg.render.CheckTLS, CheckCAFile: cfg.render.CheckCAFile,
			CheckInsecureSkipVerify: cfg.render.CheckInsecureSkipVerify, ProbeTimeout: cfg.render.CheckTimeout, Logger: logger})
		if err != nil {
			return fmt.Errorf("%w: %w", errConfig, err)
		}
	}
	syncer, err := haproxycfg.NewSyncer(store, haproxycfg.SyncerOptions{Render: cfg.render, ConfigPath: cfg.process.ConfigPath,
		Reloader: reloader, Router: router, Logger: logger})
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}

	var kaDone <-chan struct{}
	if cfg.keepalived != nil {
		ka, err := setupKeepalived(ctx, cfg, logger)
		if err != nil {
			return err
		}
		if ka != nil {
			defer func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if err := ka.Stop(sctx); err != nil {
					logger.Warn("stop keepalived", "err", err)
				}
			}()
			kaDone = ka.Done()
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- syncer.Run(rctx) }()
	logger.Info("pgha-proxy running", "scope", cfg.agent.Scope, "runtime_routing", cfg.routing, "manage_haproxy", cfg.manage)
	var runErr error
	select {
	case <-ctx.Done():
	case <-haproxyDone:
		runErr = errors.New("haproxy exited")
	case <-kaDone:
		runErr = errors.New("keepalived exited")
	}
	cancel()
	<-done
	return runErr
}

// startHAProxy writes a configuration HAProxy can start with (the empty
// cluster, when the file is missing or invalid; the Syncer renders the
// members right after) and starts HAProxy.
func startHAProxy(ctx context.Context, cfg *proxyConfig, logger *slog.Logger) (*haproxycfg.Process, error) {
	pcfg := cfg.process
	pcfg.Logger = logger
	proc, err := haproxycfg.NewProcess(pcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := os.Stat(pcfg.ConfigPath); err != nil || proc.Validate(vctx, pcfg.ConfigPath) != nil {
		initial, err := haproxycfg.Render(nil, cfg.render)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errConfig, err)
		}
		if err := haproxycfg.WriteFileAtomic(pcfg.ConfigPath, initial, 0o644); err != nil {
			return nil, err
		}
	}
	if err := proc.Start(vctx); err != nil {
		return nil, err
	}
	return proc, nil
}

// setupKeepalived writes keepalived.conf when it changed and, with manage,
// starts Keepalived (returned; nil without manage).
func setupKeepalived(ctx context.Context, cfg *proxyConfig, logger *slog.Logger) (*haproxycfg.Keepalived, error) {
	conf, err := haproxycfg.RenderKeepalived(*cfg.keepalived)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if cur, err := os.ReadFile(cfg.keepalivedConfig); err != nil || !bytes.Equal(cur, conf) {
		if err := haproxycfg.WriteFileAtomic(cfg.keepalivedConfig, conf, 0o644); err != nil {
			return nil, err
		}
		logger.Info("keepalived configuration written", "path", cfg.keepalivedConfig)
	}
	if !cfg.keepalivedManage {
		return nil, nil
	}
	ka, err := haproxycfg.NewKeepalived(haproxycfg.KeepalivedConfig{Bin: cfg.keepalivedBin, ConfigPath: cfg.keepalivedConfig,
		RunDir: cfg.keepalivedRunDir, Wrapper: cfg.keepalivedWrap, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ka.Start(sctx); err != nil {
		return nil, err
	}
	return ka, nil
}
