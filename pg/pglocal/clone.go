package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pgha/pgha/pg"
)

// Clone creates the data directory of a replica with the configured
// ReplicaMethods (or the methods req.Methods names, see
// pg.CloneRequest), tried in order until one succeeds; the directory is
// wiped between attempts unless the failed method has KeepData. The
// server is left stopped: call Follow next. A non-empty data directory is
// refused with ErrDataDirNotEmpty unless req.Replace is set. A method
// name that is not defined, and a zero req.Upstream with no NoLeader
// method to try, are ErrInvalidConfig errors returned before anything is
// changed.
func (l *Local) Clone(ctx context.Context, req pg.CloneRequest) error {
	l.lockOp()
	defer l.op.Unlock()
	if l.runningPID() != 0 {
		return fmt.Errorf("pg: clone: %w", pg.ErrAlreadyRunning)
	}
	if !req.Upstream.IsZero() && (req.Upstream.Port < 1 || req.Upstream.Port > 65535 || printable(req.Upstream.Host) != nil) {
		return fmt.Errorf("%w: CloneRequest.Upstream %q:%d", pg.ErrInvalidConfig, req.Upstream.Host, req.Upstream.Port)
	}
	methods, err := l.cfg.replicaMethods(req.Methods)
	if err != nil {
		return fmt.Errorf("pg: clone: %w", err)
	}
	if req.Upstream.IsZero() && !slices.ContainsFunc(methods, func(m ReplicaMethod) bool { return m.NoLeader }) {
		names := make([]string, len(methods))
		for i, m := range methods {
			names[i] = m.Name
		}
		return fmt.Errorf("pg: clone: %w: no upstream, and none of the methods %s runs without a leader (no_leader)",
			pg.ErrInvalidConfig, strings.Join(names, ", "))
	}
	empty, err := l.dataDirEmpty()
	if err != nil {
		return err
	}
	if !empty {
		if !req.Replace {
			return fmt.Errorf("pg: clone into %s: %w", l.cfg.DataDir, pg.ErrDataDirNotEmpty)
		}
		l.log.Warn("pg: wiping data directory before clone", "datadir", l.cfg.DataDir)
		if err := l.removeContents(); err != nil {
			return err
		}
	}
	if err := l.ensureDir(l.cfg.DataDir, 0o700); err != nil {
		return err
	}
	var errs []error
	for _, m := range methods {
		if req.Upstream.IsZero() && !m.NoLeader {
			errs = append(errs, fmt.Errorf("method %s: needs an upstream", m.Name))
			continue
		}
		log := l.log.With("method", m.Name, "upstream", fmt.Sprintf("%s:%d", req.Upstream.Host, req.Upstream.Port))
		log.Info("pg: creating replica")
		err := l.runReplicaMethod(ctx, m, req.Upstream)
		if err == nil && !l.initialized() {
			err = fmt.Errorf("finished without creating a data directory (no PG_VERSION)")
		}
		if err == nil {
			l.mu.Lock()
			l.conf = confState{}
			l.mu.Unlock()
			// The copy carries the upstream's pid file and signals; a fresh replica has neither.
			os.Remove(filepath.Join(l.cfg.DataDir, "postmaster.pid"))
			if err := l.setStandbySignal(true); err != nil {
				return err
			}
			log.Info("pg: replica created")
			return nil
		}
		log.Warn("pg: replica creation method failed", "err", err)
		errs = append(errs, fmt.Errorf("method %s: %w", m.Name, err))
		if !m.KeepData {
			if err := l.removeContents(); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("pg: clone: every replica method failed: %w", errors.Join(errs...))
}

func (l *Local) runReplicaMethod(ctx context.Context, m ReplicaMethod, up pg.Upstream) error {
	if m.Name == BaseBackup {
		dsn := conninfo("host", up.Host, "port", strconv.Itoa(up.Port), "user", l.cfg.Replication.Username,
			"application_name", l.cfg.Name, "connect_timeout", "5")
		_, err := l.run(ctx, []string{"PGPASSWORD=" + l.cfg.Replication.Password}, "pg_basebackup",
			"--pgdata="+l.cfg.DataDir, "--wal-method=stream", "--checkpoint=fast", "--no-password", "--dbname="+dsn)
		return err
	}
	dsn := ""
	if !up.IsZero() {
		dsn = conninfo("host", up.Host, "port", strconv.Itoa(up.Port), "user", l.cfg.Replication.Username,
			"password", l.cfg.Replication.Password, "application_name", l.cfg.Name)
	}
	args := append(append([]string(nil), m.Command[1:]...),
		"--scope="+l.cfg.Scope, "--datadir="+l.cfg.DataDir, "--role=replica", "--connstring="+dsn)
	prog, err := lookPath(m.Command[0])
	if err != nil {
		return err
	}
	_, err = l.run(ctx, nil, prog, args...)
	return err
}

// lookPath resolves a custom command to an absolute path.
func lookPath(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("replica method command: %w", err)
	}
	return filepath.Abs(p)
}
