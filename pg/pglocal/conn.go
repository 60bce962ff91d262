package pglocal

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgha/pgha/pg"
)

// dialConfig returns a pgx config for host:port as user, with short
// timeouts.
func dialConfig(host string, port int, cred Credentials, database string, timeoutSec int) (*pgx.ConnConfig, error) {
	sslmode := "prefer"
	if len(host) > 0 && host[0] == '/' {
		sslmode = "disable"
	}
	cc, err := pgx.ParseConfig(conninfo(
		"host", host, "port", strconv.Itoa(port), "dbname", database,
		"sslmode", sslmode, "connect_timeout", strconv.Itoa(timeoutSec),
		"application_name", "pgha"))
	if err != nil {
		return nil, fmt.Errorf("pg: connection config: %w", err)
	}
	cc.User, cc.Password = cred.Username, cred.Password
	return cc, nil
}

// localConnConfig connects to this server through its unix socket as the
// superuser.
func (l *Local) localConnConfig() (*pgx.ConnConfig, error) {
	return dialConfig(l.cfg.SocketDir, l.cfg.Port, l.cfg.Superuser, "postgres", max(1, int(l.cfg.StatusTimeout.Seconds())))
}

// withConn runs fn on the reused connection to the local server, dialing
// it when needed. A connection that failed other than with an SQL error is
// dropped so the next call redials.
func (l *Local) withConn(ctx context.Context, fn func(ctx context.Context, c *pgx.Conn) error) error {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.runningPID() == 0 {
		return pg.ErrNotRunning
	}
	if l.conn == nil || l.conn.IsClosed() {
		cc, err := l.localConnConfig()
		if err != nil {
			return err
		}
		dctx, cancel := context.WithTimeout(ctx, l.cfg.StatusTimeout)
		c, err := pgx.ConnectConfig(dctx, cc)
		cancel()
		if err != nil {
			return classify(fmt.Errorf("pg: connect to local server: %w", err))
		}
		l.conn = c
	}
	err := fn(ctx, l.conn)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		l.conn.Close(context.Background())
		l.conn = nil
	}
	return classify(err)
}

// closeConn drops the reused connection (the server is going away).
func (l *Local) closeConn() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.StatusTimeout)
		l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// classify adds ErrAuthFailed to authentication errors.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return fmt.Errorf("%w: %w", pg.ErrAuthFailed, err)
	}
	return err
}

// exec runs a statement on the local server.
func (l *Local) exec(ctx context.Context, sql string, args ...any) error {
	return l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, sql, args...)
		return err
	})
}
