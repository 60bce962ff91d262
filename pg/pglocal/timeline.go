package pglocal

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgha/pgha/pg"
)

// replayTLICache remembers the replay timeline of one postmaster at one
// replay position: the timeline cannot change while replay stands still,
// which is the case replayTimeline serves (no WAL receiver).
type replayTLICache struct {
	pid int
	lsn pg.LSN
	tli uint32
}

// replayTimeline returns the timeline of the last WAL record the running
// replica replayed, or 0 when it cannot tell.
//
// Why this source: while no WAL receiver runs, pg_stat_wal_receiver has no
// received_tli, and pg_control_checkpoint() names the timeline of the last
// restartpoint, which replicas create only every checkpoint_timeout, so it
// stays on the old timeline for minutes after a promotion elsewhere. The
// newest timeline history file in pg_wal is not right either: the WAL
// receiver fetches it before streaming starts, recovery_target_timeline =
// latest adopts it as its target even when replay has not reached (or, for
// a diverged node, has gone past) the switch point, and pg_rewind or
// pg_basebackup may leave history files of other timelines. What the node
// really replayed is known only to the startup process; PostgreSQL exposes
// it as the timeline IDENTIFY_SYSTEM reports on a standby (a cascading WAL
// sender serves what has been replayed), the same query Patroni uses.
func (l *Local) replayTimeline(ctx context.Context, replayLSN pg.LSN) uint32 {
	pid := l.runningPID()
	if pid == 0 {
		return 0
	}
	l.mu.Lock()
	c := l.replayTLI
	l.mu.Unlock()
	if c.pid == pid && c.lsn == replayLSN && c.tli != 0 {
		return c.tli
	}
	tli, err := l.identifyLocalTimeline(ctx)
	if err != nil {
		l.log.Debug("pg: replay timeline unknown", "err", err)
		return 0
	}
	l.mu.Lock()
	l.replayTLI = replayTLICache{pid: pid, lsn: replayLSN, tli: tli}
	l.mu.Unlock()
	return tli
}

// identifyLocalTimeline runs IDENTIFY_SYSTEM on a replication connection
// to the local server as the superuser.
func (l *Local) identifyLocalTimeline(ctx context.Context) (uint32, error) {
	cc, err := l.localConnConfig()
	if err != nil {
		return 0, err
	}
	pc := cc.Config.Copy()
	pc.RuntimeParams["replication"] = "true"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return 0, classify(fmt.Errorf("pg: local replication connection: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, tli, err := identifySystem(ctx, conn)
	return tli, err
}

// identifySystem runs IDENTIFY_SYSTEM on a replication connection and
// returns the system identifier and timeline.
func identifySystem(ctx context.Context, conn *pgconn.PgConn) (uint64, uint32, error) {
	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		return 0, 0, fmt.Errorf("pg: IDENTIFY_SYSTEM: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 2 {
		return 0, 0, fmt.Errorf("pg: IDENTIFY_SYSTEM: unexpected result")
	}
	sysID, err1 := strconv.ParseUint(string(res[0].Rows[0][0]), 10, 64)
	tli, err2 := strconv.ParseUint(string(res[0].Rows[0][1]), 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("pg: IDENTIFY_SYSTEM: %w", err)
	}
	return sysID, uint32(tli), nil
}
