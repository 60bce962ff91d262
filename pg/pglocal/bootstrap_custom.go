package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"
)

// validateBootstrap checks a custom bootstrap method and the post-bootstrap
// command before anything runs.
func validateBootstrap(opts pg.BootstrapOptions) error {
	for i, a := range opts.PostBootstrap {
		if err := printable(a); err != nil {
			return fmt.Errorf("%w: PostBootstrap[%d]: %v", pg.ErrInvalidConfig, i, err)
		}
	}
	m := opts.Method
	if m == nil {
		return nil
	}
	if len(m.Command) == 0 || m.Command[0] == "" {
		return fmt.Errorf("%w: Method %q: Command is required", pg.ErrInvalidConfig, m.Name)
	}
	for i, a := range m.Command {
		if err := printable(a); err != nil {
			return fmt.Errorf("%w: Method.Command[%d]: %v", pg.ErrInvalidConfig, i, err)
		}
	}
	for k, v := range m.Options {
		if !validOptionName(k) {
			return fmt.Errorf("%w: Method.Options[%q]: want letters, digits, '-' and '_'", pg.ErrInvalidConfig, k)
		}
		if k == "scope" || k == "datadir" {
			return fmt.Errorf("%w: Method.Options[%q]: passed by pgha itself (see NoParams)", pg.ErrInvalidConfig, k)
		}
		if err := printable(v); err != nil {
			return fmt.Errorf("%w: Method.Options[%q]: %v", pg.ErrInvalidConfig, k, err)
		}
	}
	for k, v := range m.RecoveryConf {
		if err := CheckBootstrapRecoveryParameter(k); err != nil {
			return fmt.Errorf("%w: Method.RecoveryConf[%q]: %v", pg.ErrInvalidConfig, k, err)
		}
		if err := validParamValue(v); err != nil {
			return fmt.Errorf("%w: Method.RecoveryConf[%q]: %v", pg.ErrInvalidConfig, k, err)
		}
	}
	return nil
}

// CheckBootstrapRecoveryParameter reports why name cannot be an entry of
// a custom bootstrap's recovery settings (pg.BootstrapMethod.RecoveryConf),
// or nil when it can: any setting but those Local manages itself, other
// than the recovery ones (restore_command, recovery_end_command, ...).
func CheckBootstrapRecoveryParameter(name string) error {
	if err := validParamName(name); err != nil {
		return err
	}
	if owner, ok := managedParams[name]; ok && !slices.Contains(RecoveryParameters, name) {
		return fmt.Errorf("%s is managed by pgha (%s)", name, owner)
	}
	return nil
}

func validOptionName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// customBootstrap runs the method's command, prepares the recovery it
// asks for, starts the server and waits until it runs as a primary. On
// failure the server is stopped and what the command restored is left
// in the data directory for the caller to set aside (MoveDataDirAside):
// it may be an operator's only copy.
func (l *Local) customBootstrap(ctx context.Context, m *pg.BootstrapMethod) error {
	log := l.log.With("method", m.Name)
	args := slices.Clone(m.Command[1:])
	if !m.NoParams {
		args = append(args, "--scope="+l.cfg.Scope, "--datadir="+l.cfg.DataDir)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Options)) {
		args = append(args, "--"+k+"="+m.Options[k])
	}
	prog, err := lookPath(m.Command[0])
	if err != nil {
		return fmt.Errorf("pg: bootstrap method %s: %w", m.Name, err)
	}
	log.Info("pg: running custom bootstrap", "command", m.Command[0])
	if _, err := l.run(ctx, nil, prog, args...); err != nil {
		return fmt.Errorf("pg: bootstrap method %s: %w", m.Name, err)
	}
	if !l.initialized() {
		return fmt.Errorf("pg: bootstrap method %s: finished without creating a data directory (no PG_VERSION in %s)", m.Name, l.cfg.DataDir)
	}
	// A copy of a running server carries its pid file; PostgreSQL would
	// refuse to start only if that pid were alive, but it is not ours.
	os.Remove(filepath.Join(l.cfg.DataDir, "postmaster.pid"))
	st := confState{}
	if !m.KeepExistingRecoveryConf {
		for _, f := range []string{"standby.signal", "recovery.signal"} {
			if err := os.Remove(filepath.Join(l.cfg.DataDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pg: bootstrap: remove %s: %w", f, err)
			}
		}
		// A restore tool's own recovery settings (pgBackRest and
		// pg_basebackup -R write them there) would override ours.
		if err := l.sanitizeAutoConf(); err != nil {
			return err
		}
		if len(m.RecoveryConf) > 0 {
			st.bootstrapRecovery = maps.Clone(m.RecoveryConf)
			if _, ok := st.bootstrapRecovery["recovery_target_action"]; !ok && hasRecoveryTarget(m.RecoveryConf) {
				// PostgreSQL's default (pause) would leave the new
				// cluster read-only at the target.
				st.bootstrapRecovery["recovery_target_action"] = "promote"
			}
			if err := l.writeFile("recovery.signal", nil); err != nil {
				return err
			}
		}
	}
	if l.hasStandbySignal() {
		return fmt.Errorf("pg: bootstrap method %s: the data directory has standby.signal (kept by keep_existing_recovery_conf): a standby never finishes recovery, so it cannot become the new cluster's primary", m.Name)
	}
	me, err := user.Current()
	if err != nil {
		return fmt.Errorf("pg: bootstrap: current OS user: %w", err)
	}
	st.bootstrapPeer = me.Username
	l.mu.Lock()
	l.conf = st
	l.mu.Unlock()
	log.Info("pg: starting the restored data directory", "recovery_conf", len(st.bootstrapRecovery) > 0)
	if err := l.start(ctx); err != nil {
		return err
	}
	if err := l.waitPrimary(ctx); err != nil {
		return err
	}
	log.Info("pg: custom bootstrap recovered; the server runs as a primary")
	return nil
}

func hasRecoveryTarget(rc map[string]string) bool {
	for k := range rc {
		if strings.HasPrefix(k, "recovery_target") && k != "recovery_target_timeline" && k != "recovery_target_inclusive" {
			return true
		}
	}
	return false
}

// waitPrimary waits until the server has left recovery. A recovery that
// reached its target and paused (recovery_target_action = pause) is
// promoted: a bootstrap ends with a primary. A server that exits
// (recovery_target_action = shutdown, a target never reached) fails it.
func (l *Local) waitPrimary(ctx context.Context) error {
	t := time.NewTicker(10 * pollInterval)
	defer t.Stop()
	l.mu.Lock()
	p := l.proc
	l.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: the server exited during the bootstrap's recovery", pg.ErrStartFailed)
	}
	for {
		var inRecovery bool
		var paused string
		err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
			return c.QueryRow(ctx, "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE '' END").Scan(&inRecovery, &paused)
		})
		switch {
		case err == nil && !inRecovery:
			return nil
		case err == nil && paused == "paused":
			l.log.Info("pg: bootstrap recovery paused at its target: promoting")
			if err := l.exec(ctx, "SELECT pg_promote(false)"); err != nil {
				return fmt.Errorf("pg: bootstrap: promote after recovery: %w", err)
			}
		case err != nil && errors.Is(err, pg.ErrAuthFailed):
			return fmt.Errorf("pg: bootstrap: connect to the restored server: %w", err)
		case err != nil:
			l.log.Debug("pg: waiting for the bootstrap's recovery", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pg: bootstrap: waiting for recovery to end: %w", ctx.Err())
		case <-p.done:
			return fmt.Errorf("%w: the server exited during the bootstrap's recovery: %s", pg.ErrStartFailed, p.logTail())
		case <-t.C:
		}
	}
}

// finishCustomBootstrap makes the restored cluster ours: the configured
// roles get their passwords, the recovery settings and the peer rule go,
// and the server re-reads its configuration.
func (l *Local) finishCustomBootstrap(ctx context.Context) error {
	if err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return createRoles(ctx, c, l.cfg, true)
	}); err != nil {
		return err
	}
	l.mu.Lock()
	l.conf = confState{}
	l.mu.Unlock()
	if err := l.writeConfigAs(false); err != nil {
		return err
	}
	// Kept ones too (keep_existing_recovery_conf): the replicas copy the
	// file, and a recovery target there would stop them at it.
	if err := l.sanitizeAutoConf(); err != nil {
		return err
	}
	return l.reload()
}

// autoConfRecoveryParams are the recovery settings removed from
// postgresql.auto.conf after a restore: the HA loop sets its own.
var autoConfRecoveryParams = map[string]bool{
	"restore_command": true, "archive_cleanup_command": true, "recovery_end_command": true,
	"recovery_min_apply_delay": true, "primary_conninfo": true, "primary_slot_name": true,
	"promote_trigger_file": true, "standby_mode": true, "trigger_file": true,
	"recovery_target": true, "recovery_target_name": true, "recovery_target_time": true,
	"recovery_target_xid": true, "recovery_target_lsn": true, "recovery_target_inclusive": true,
	"recovery_target_timeline": true, "recovery_target_action": true,
}

// sanitizeAutoConf removes recovery settings from postgresql.auto.conf,
// which PostgreSQL reads after pgha.conf, so they would win over ours.
func (l *Local) sanitizeAutoConf() error {
	path := filepath.Join(l.cfg.DataDir, "postgresql.auto.conf")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pg: read postgresql.auto.conf: %w", err)
	}
	var keep, removed []string
	for _, line := range strings.Split(string(data), "\n") {
		name, _, ok := strings.Cut(line, "=")
		if name = strings.ToLower(strings.TrimSpace(name)); ok && autoConfRecoveryParams[name] {
			removed = append(removed, name)
			continue
		}
		keep = append(keep, line)
	}
	if len(removed) == 0 {
		return nil
	}
	l.log.Info("pg: removing recovery settings from postgresql.auto.conf", "settings", removed)
	return l.writeFile("postgresql.auto.conf", []byte(strings.Join(keep, "\n")))
}

// postBootstrap runs the post-bootstrap command with the superuser's
// connection string; the password travels in the environment, not in
// the arguments.
func (l *Local) postBootstrap(ctx context.Context, cmd []string) error {
	prog, err := lookPath(cmd[0])
	if err != nil {
		return fmt.Errorf("pg: post_bootstrap: %w", err)
	}
	dsn := conninfo("host", l.cfg.SocketDir, "port", strconv.Itoa(l.cfg.Port), "user", l.cfg.Superuser.Username, "dbname", "postgres")
	l.log.Info("pg: running post_bootstrap", "command", cmd[0])
	args := append(slices.Clone(cmd[1:]), dsn)
	if _, err := l.run(ctx, []string{"PGPASSWORD=" + l.cfg.Superuser.Password}, prog, args...); err != nil {
		return fmt.Errorf("pg: post_bootstrap: %w", err)
	}
	return nil
}

// MoveDataDirAside renames the stopped server's data directory to
// <DataDir>_<UTC time as 2006-01-02-15-04-05> (Patroni's name), with a
// numeric suffix if that exists, and returns the new path. A missing or
// empty data directory is not moved ("" and nil). It implements
// pg.DataDirMover.
func (l *Local) MoveDataDirAside(ctx context.Context) (string, error) {
	l.lockOp()
	defer l.op.Unlock()
	if s := l.State(); s == pg.StateRunning || s == pg.StateStarting || s == pg.StateStopping {
		return "", fmt.Errorf("pg: move data directory aside: %w", pg.ErrAlreadyRunning)
	}
	empty, err := l.dataDirEmpty()
	if err != nil || empty {
		return "", err
	}
	base := filepath.Clean(l.cfg.DataDir) + "_" + time.Now().UTC().Format("2006-01-02-15-04-05")
	to := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(l.cfg.DataDir, to); err != nil {
		return "", fmt.Errorf("pg: move data directory aside: %w", err)
	}
	l.log.Warn("pg: moved the data directory aside", "datadir", l.cfg.DataDir, "to", to)
	return to, nil
}

var _ pg.DataDirMover = (*Local)(nil)
