package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"
)

// Bootstrap creates a new cluster in the (missing or empty) data
// directory and leaves it running as a primary, with pgha.conf and
// pgha_hba.conf written and the replication and rewind roles holding
// their configured scram-sha-256 passwords.
//
// Without opts.Method it runs initdb. With it, it runs the method's
// command (as the server's OS user, with Patroni's arguments), writes the
// method's recovery settings with recovery.signal unless
// KeepExistingRecoveryConf, starts the server, waits until its recovery
// has ended in a promotion, and then sets the superuser's password and
// creates or updates the other roles (the restored ones are not ours).
// opts.PostBootstrap runs last, after either.
//
// An existing non-empty data directory is refused with
// ErrDataDirNotEmpty and left untouched. If a later step fails, the
// server is stopped; what initdb created is removed again, but what a
// custom method restored is left in place (it may be an operator's only
// copy): set it aside with MoveDataDirAside.
func (l *Local) Bootstrap(ctx context.Context, opts pg.BootstrapOptions) error {
	l.lockOp()
	defer l.op.Unlock()
	if l.runningPID() != 0 {
		return fmt.Errorf("pg: bootstrap: %w", pg.ErrAlreadyRunning)
	}
	empty, err := l.dataDirEmpty()
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("pg: bootstrap %s: %w", l.cfg.DataDir, pg.ErrDataDirNotEmpty)
	}
	for i, a := range opts.InitdbArgs {
		if err := printable(a); err != nil {
			return fmt.Errorf("%w: InitdbArgs[%d]: %v", pg.ErrInvalidConfig, i, err)
		}
	}
	if err := validateBootstrap(opts); err != nil {
		return err
	}
	_, statErr := os.Stat(l.cfg.DataDir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := l.ensureDir(l.cfg.DataDir, 0o700); err != nil {
		return err
	}
	if opts.Method != nil {
		err = l.customBootstrap(ctx, opts.Method)
		if err == nil {
			err = l.finishCustomBootstrap(ctx)
		}
	} else {
		err = l.bootstrap(ctx, opts)
	}
	if err == nil && len(opts.PostBootstrap) > 0 {
		err = l.postBootstrap(ctx, opts.PostBootstrap)
	}
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*l.cfg.StatusTimeout)
		_ = l.stop(stopCtx, pg.StopImmediate)
		cancel()
		l.mu.Lock()
		l.conf = confState{}
		l.mu.Unlock()
		if opts.Method != nil {
			if empty, _ := l.dataDirEmpty(); empty && created {
				os.Remove(l.cfg.DataDir)
			}
			return err
		}
		if rmErr := l.removeContents(); rmErr != nil {
			l.log.Error("pg: cleaning up after failed bootstrap", "err", rmErr)
		} else if created {
			os.Remove(l.cfg.DataDir)
		}
		return err
	}
	return nil
}

func (l *Local) bootstrap(ctx context.Context, opts pg.BootstrapOptions) error {
	if opts.Encoding == "" {
		opts.Encoding = "UTF8"
	}
	if opts.Locale == "" {
		opts.Locale = "C"
	}
	pwDir, err := os.MkdirTemp("", "pgha-initdb-")
	if err != nil {
		return fmt.Errorf("pg: bootstrap: %w", err)
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "pw")
	if err := os.WriteFile(pwFile, []byte(l.cfg.Superuser.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pg: bootstrap: %w", err)
	}
	if err := l.chown(pwDir); err != nil {
		return fmt.Errorf("pg: bootstrap: %w", err)
	}
	if err := l.chown(pwFile); err != nil {
		return fmt.Errorf("pg: bootstrap: %w", err)
	}
	args := []string{"-D", l.cfg.DataDir, "-U", l.cfg.Superuser.Username, "--pwfile=" + pwFile,
		"--auth=scram-sha-256", "-E", opts.Encoding, "--locale=" + opts.Locale}
	if opts.DataChecksums {
		args = append(args, "--data-checksums")
	}
	if opts.NoSync {
		args = append(args, "--no-sync")
	}
	args = append(args, opts.InitdbArgs...)
	l.log.Info("pg: initdb", "datadir", l.cfg.DataDir)
	if _, err := l.run(ctx, nil, "initdb", args...); err != nil {
		return fmt.Errorf("pg: initdb: %w", err)
	}
	l.mu.Lock()
	l.conf = confState{}
	l.mu.Unlock()
	if err := l.setStandbySignal(false); err != nil {
		return err
	}
	if err := l.start(ctx); err != nil {
		return err
	}
	return l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return createRoles(ctx, c, l.cfg, false)
	})
}

// createRoles creates the replication and rewind roles, or, when restored
// is set (a custom bootstrap: the roles may exist with other passwords),
// also sets the superuser's password and updates the roles that exist.
// Passwords are sent as literals because CREATE ROLE takes no
// parameters; they are quoted.
func createRoles(ctx context.Context, c *pgx.Conn, cfg Config, restored bool) error {
	stmts := []string{"SET password_encryption = 'scram-sha-256'"}
	exists := func(name string) (bool, error) {
		if !restored {
			return false, nil
		}
		var ok bool
		err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", name).Scan(&ok)
		return ok, err
	}
	upsert := func(name, options string) error {
		ok, err := exists(name)
		if err != nil {
			return err
		}
		verb := "CREATE"
		if ok {
			verb = "ALTER"
		}
		stmts = append(stmts, fmt.Sprintf("%s ROLE %s WITH %s", verb, quoteIdent(name), options))
		return nil
	}
	if restored {
		stmts = append(stmts, fmt.Sprintf("ALTER ROLE %s WITH SUPERUSER LOGIN PASSWORD %s",
			quoteIdent(cfg.Superuser.Username), quoteLiteral(cfg.Superuser.Password)))
	}
	if cfg.Replication.Username != cfg.Superuser.Username {
		if err := upsert(cfg.Replication.Username, "LOGIN REPLICATION PASSWORD "+quoteLiteral(cfg.Replication.Password)); err != nil {
			return fmt.Errorf("pg: create roles: %w", err)
		}
	}
	if cfg.Rewind.Password != "" && cfg.Rewind.Username != cfg.Superuser.Username {
		r := quoteIdent(cfg.Rewind.Username)
		if err := upsert(cfg.Rewind.Username, "LOGIN PASSWORD "+quoteLiteral(cfg.Rewind.Password)); err != nil {
			return fmt.Errorf("pg: create roles: %w", err)
		}
		stmts = append(stmts,
			"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "+r,
			"GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO "+r,
			"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO "+r,
			"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "+r,
		)
		var version int
		if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
			return err
		}
		if version >= 150000 {
			// Rewind runs CHECKPOINT on the source first; pg_checkpoint allows it.
			stmts = append(stmts, "GRANT pg_checkpoint TO "+r)
		}
	}
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("pg: create roles: %w", err)
		}
	}
	return nil
}
