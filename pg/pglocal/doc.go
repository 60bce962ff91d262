// Package pglocal is the provided implementation of [pg.Instance]: [Local]
// manages a data directory on this machine with the PostgreSQL binaries and
// pgx v5. When the calling
// process is root it runs the server and every tool as an unprivileged OS
// user (default "postgres"), because PostgreSQL refuses to run as root.
//
// # Files Local owns
//
// Local never rewrites postgresql.conf, pg_hba.conf or postgresql.auto.conf.
// It writes its settings to pgha.conf (included once, at the end of
// postgresql.conf, so it wins over that file; ALTER SYSTEM still wins over
// it) and its authentication rules to pgha_hba.conf (selected with
// hba_file). Both are rewritten before every start, so a data directory
// copied from another member by pg_basebackup or pg_rewind gets this
// member's settings back. The server's log goes to Config.LogFile,
// outside the data directory so it is not copied to replicas.
//
// # Errors
//
// Local's errors wrap package pg's sentinel errors ([pg.ErrNotRunning],
// [pg.ErrStartFailed], [pg.ErrRewindFailed] and the others), so callers
// branch on them with errors.Is whichever Instance they hold.
package pglocal
