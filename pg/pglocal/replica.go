package pglocal

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"
)

// Promote turns a running replica into a primary with pg_promote, waiting
// until it leaves recovery (writes succeed from then on), and returns the
// new timeline. Without a deadline on ctx it waits up to 60 seconds.
func (l *Local) Promote(ctx context.Context) (uint32, error) {
	l.lockOp()
	defer l.op.Unlock()
	waitSec := 60
	if dl, ok := ctx.Deadline(); ok {
		waitSec = max(1, int(math.Ceil(time.Until(dl).Seconds())))
	}
	var tli uint32
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if !inRecovery {
			return pg.ErrNotReplica
		}
		var ok bool
		if err := c.QueryRow(ctx, "SELECT pg_promote(true, $1)", waitSec).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("promotion did not finish within %d s", waitSec)
		}
		var walTLI string
		if err := c.QueryRow(ctx, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)").Scan(&walTLI); err != nil {
			return err
		}
		t, err := strconv.ParseUint(walTLI, 16, 32)
		if err != nil {
			return fmt.Errorf("timeline from WAL file name %q: %w", walTLI, err)
		}
		tli = uint32(t)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pg: promote: %w", err)
	}
	// The primary ignores these, but a later restart must not find them.
	l.mu.Lock()
	l.conf.primaryConninfo, l.conf.primarySlot, l.conf.recovery = "", "", nil
	l.mu.Unlock()
	if err := l.writeConfig(); err != nil {
		return tli, err
	}
	l.log.Info("pg: promoted", "timeline", tli)
	return tli, nil
}

// Follow makes the server a replica of cfg.Upstream; see [Instance].
// PostgreSQL 13 and later re-read primary_conninfo and primary_slot_name on
// reload, so a running replica is re-pointed without a restart unless
// cfg.Restart is set.
func (l *Local) Follow(ctx context.Context, cfg pg.FollowConfig) error {
	l.lockOp()
	defer l.op.Unlock()
	return l.follow(ctx, cfg, "")
}

// Demote stops the server in mode (immediate skips the shutdown
// checkpoint, for a primary that must stop writing at once) and starts it
// as a replica configured by cfg (cfg.DemoteMode is not used). A stopped
// server is just started as a replica.
func (l *Local) Demote(ctx context.Context, mode pg.StopMode, cfg pg.FollowConfig) error {
	if _, err := stopSignal(mode); err != nil {
		return err
	}
	if mode == "" {
		mode = pg.StopFast
	}
	l.lockOp()
	defer l.op.Unlock()
	return l.follow(ctx, cfg, mode)
}

// primaryConninfo is the replication connection string for cfg.Upstream.
func (l *Local) primaryConninfo(cfg pg.FollowConfig) string {
	up := cfg.Upstream
	if up.IsZero() {
		return ""
	}
	return conninfo("host", up.Host, "port", strconv.Itoa(up.Port),
		"user", l.cfg.Replication.Username, "password", l.cfg.Replication.Password,
		"application_name", cfg.ApplicationName, "connect_timeout", "5",
		"target_session_attrs", cfg.TargetSessionAttrs)
}

// checkRecovery validates FollowConfig.Recovery: only the recovery
// parameters Config.RecoveryConf accepts, with printable values.
func checkRecovery(rec map[string]string) error {
	for name, v := range rec {
		if !slices.Contains(RecoveryParameters, name) {
			return fmt.Errorf("%w: FollowConfig.Recovery[%s]: not one of %v", pg.ErrInvalidConfig, name, RecoveryParameters)
		}
		if err := validParamValue(v); err != nil {
			return fmt.Errorf("%w: FollowConfig.Recovery[%s]: %v", pg.ErrInvalidConfig, name, err)
		}
	}
	return nil
}

func (l *Local) follow(ctx context.Context, cfg pg.FollowConfig, stopMode pg.StopMode) error {
	if cfg.SlotName != "" {
		if err := pg.ValidSlotName(cfg.SlotName); err != nil {
			return err
		}
	}
	if !cfg.Upstream.IsZero() && (cfg.Upstream.Port < 1 || cfg.Upstream.Port > 65535 || printable(cfg.Upstream.Host) != nil) {
		return fmt.Errorf("%w: FollowConfig.Upstream %q:%d", pg.ErrInvalidConfig, cfg.Upstream.Host, cfg.Upstream.Port)
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = l.cfg.Name
	}
	if err := printable(cfg.ApplicationName); err != nil {
		return fmt.Errorf("%w: FollowConfig.ApplicationName: %v", pg.ErrInvalidConfig, err)
	}
	if err := checkRecovery(cfg.Recovery); err != nil {
		return err
	}
	switch cfg.TargetSessionAttrs {
	case "", "any", "read-write", "read-only", "primary", "standby", "prefer-standby":
	default:
		return fmt.Errorf("%w: FollowConfig.TargetSessionAttrs %q", pg.ErrInvalidConfig, cfg.TargetSessionAttrs)
	}
	demote := cfg.DemoteMode
	if demote == "" {
		demote = pg.StopFast
	}
	if _, err := stopSignal(demote); err != nil {
		return err
	}
	if !l.initialized() {
		return fmt.Errorf("pg: follow: %w", pg.ErrNoDataDir)
	}
	ci := l.primaryConninfo(cfg)
	rec := maps.Clone(cfg.Recovery)
	if len(rec) == 0 {
		rec = nil
	}
	l.mu.Lock()
	l.conf.primaryConninfo, l.conf.primarySlot = ci, cfg.SlotName
	recoveryChanged := !maps.Equal(l.conf.recovery, rec)
	l.conf.recovery = rec
	l.mu.Unlock()
	log := l.log.With("upstream", fmt.Sprintf("%s:%d", cfg.Upstream.Host, cfg.Upstream.Port), "slot", cfg.SlotName)
	if cfg.Upstream.IsZero() {
		log = l.log.With("upstream", "none (restore_command and pg_wal only)")
		if strings.TrimSpace(l.cfg.RecoveryConf["restore_command"]) == "" && strings.TrimSpace(rec["restore_command"]) == "" {
			log.Warn("pg: replica without upstream and without RecoveryConf restore_command: it gets no WAL but what is put into its pg_wal")
		}
	}

	if l.runningPID() == 0 {
		if err := l.setStandbySignal(true); err != nil {
			return err
		}
		log.Info("pg: starting as replica")
		return l.start(ctx)
	}
	var inRecovery bool
	var version int
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('server_version_num')::int").Scan(&inRecovery, &version)
	})
	if err != nil {
		return fmt.Errorf("pg: follow: %w", err)
	}
	if !inRecovery && stopMode == "" {
		stopMode = demote
	}
	// restore_command is re-read on reload only from PostgreSQL 14 on.
	if stopMode == "" && (cfg.Restart || version < 130000 || (recoveryChanged && version < 140000)) {
		stopMode = pg.StopFast
	}
	if stopMode != "" {
		log.Info("pg: restarting as replica", "stop_mode", stopMode, "was_primary", !inRecovery)
		if err := l.stop(ctx, stopMode); err != nil {
			return err
		}
		if err := l.setStandbySignal(true); err != nil {
			return err
		}
		return l.start(ctx)
	}
	log.Info("pg: re-pointing replica by reload")
	if err := l.reload(); err != nil {
		return err
	}
	want := map[string]string{"primary_conninfo": ci, "primary_slot_name": cfg.SlotName}
	maps.Copy(want, rec)
	return l.waitSettings(ctx, want)
}

// waitSettings polls until the server reports the wanted setting values
// (a reload is applied asynchronously).
func (l *Local) waitSettings(ctx context.Context, want map[string]string) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		mismatch := ""
		err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
			for name, v := range want {
				var got string
				if err := c.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
					return err
				}
				if got != v {
					mismatch = name
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("pg: verify settings: %w", err)
		}
		if mismatch == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pg: %s did not take effect after reload (set elsewhere, e.g. by ALTER SYSTEM?): %w", mismatch, ctx.Err())
		case <-t.C:
		}
	}
}
