package pglocal

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"
)

const statusQuery = `SELECT pg_is_in_recovery(),
  current_setting('server_version_num')::int,
  pg_postmaster_start_time(),
  (SELECT system_identifier::text FROM pg_control_system()),
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_flush_lsn()), 1, 8) END,
  (SELECT timeline_id FROM pg_control_checkpoint()),
  (SELECT min_recovery_end_timeline FROM pg_control_recovery()),
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END,
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  pg_last_xact_replay_timestamp(),
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT sender_port FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT last_msg_send_time FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT last_msg_receipt_time FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT latest_end_lsn::text FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT latest_end_time FROM pg_stat_wal_receiver LIMIT 1),
  EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart),
  current_setting('synchronous_standby_names')`

const replicationQuery = `SELECT pid, coalesce(usename::text, ''), application_name,
  coalesce(client_addr::text, ''), coalesce(state, ''), coalesce(sync_state, ''), coalesce(sync_priority, 0),
  sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text
  FROM pg_stat_replication ORDER BY application_name, pid`

// Status returns a snapshot of the server over the reused connection. When
// the server is not running only State is set and the error is nil.
func (l *Local) Status(ctx context.Context) (pg.Status, error) {
	st := pg.Status{State: l.State()}
	if st.State != pg.StateRunning {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.StatusTimeout)
	defer cancel()
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		if err := queryStatus(ctx, c, &st, l.replayTimeline); err != nil {
			return err
		}
		if st.PendingRestart {
			var err error
			st.PendingRestartReason, err = queryPending(ctx, c)
			return err
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("pg: status: %w", err)
	}
	return st, nil
}

// queryStatus fills st from the server behind c. replayTLI, when not nil,
// returns the timeline of the WAL replayed up to the given LSN (0 when
// unknown); it is asked only on a replica without a WAL receiver.
func queryStatus(ctx context.Context, c *pgx.Conn, st *pg.Status, replayTLI func(context.Context, pg.LSN) uint32) error {
	var (
		inRecovery                  bool
		sysID                       string
		walTLI, flush, recv, replay *string
		ckptTLI, minRecTLI          int32
		replayTS                    *time.Time
		rcvStatus, rcvHost          *string
		rcvTLI, rcvPort             *int32
		sendTime, receiptTime       *time.Time
		endLSN                      *string
		endTime                     *time.Time
	)
	err := c.QueryRow(ctx, statusQuery).Scan(&inRecovery, &st.ServerVersion, &st.PostmasterStart, &sysID,
		&walTLI, &ckptTLI, &minRecTLI, &flush, &recv, &replay, &replayTS, &rcvStatus, &rcvTLI, &rcvHost,
		&rcvPort, &sendTime, &receiptTime, &endLSN, &endTime,
		&st.PendingRestart, &st.SynchronousStandbyNames)
	if err != nil {
		return err
	}
	if st.SystemID, err = strconv.ParseUint(sysID, 10, 64); err != nil {
		return fmt.Errorf("system identifier %q: %w", sysID, err)
	}
	if st.FlushLSN, err = parseNullLSN(flush); err != nil {
		return err
	}
	if st.ReceiveLSN, err = parseNullLSN(recv); err != nil {
		return err
	}
	if st.ReplayLSN, err = parseNullLSN(replay); err != nil {
		return err
	}
	if replayTS != nil {
		st.ReplayTimestamp = *replayTS
	}
	st.Timeline = uint32(ckptTLI)
	if inRecovery {
		st.Role = pg.RoleReplica
		// Fallback when the replay timeline is unknown: the minimum
		// recovery point moves with replay (whenever pages are flushed), the
		// last restartpoint only every checkpoint_timeout.
		st.Timeline = max(st.Timeline, uint32(minRecTLI))
		st.Receiver = pg.ReceiverArchive
		if rcvStatus != nil && *rcvStatus == "streaming" {
			st.Receiver = pg.ReceiverStreaming
			if err := fillReceipt(st, sendTime, receiptTime, endLSN, endTime); err != nil {
				return err
			}
		}
		if rcvTLI != nil && *rcvTLI > 0 {
			st.Timeline = uint32(*rcvTLI)
		} else if replayTLI != nil {
			st.Timeline = max(st.Timeline, replayTLI(ctx, st.ReplayLSN))
		}
		if rcvHost != nil {
			st.ReceiverUpstream = *rcvHost
		}
		if rcvPort != nil {
			st.ReceiverPort = int(*rcvPort)
		}
	} else {
		st.Role = pg.RolePrimary
		if walTLI != nil {
			tli, err := strconv.ParseUint(*walTLI, 16, 32)
			if err != nil {
				return fmt.Errorf("timeline from WAL file name %q: %w", *walTLI, err)
			}
			st.Timeline = uint32(tli)
		}
	}
	rows, err := c.Query(ctx, replicationQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r pg.Replication
		var sent, write, fl, rep *string
		if err := rows.Scan(&r.PID, &r.User, &r.ApplicationName, &r.ClientAddr, &r.State, &r.SyncState,
			&r.SyncPriority, &sent, &write, &fl, &rep); err != nil {
			return err
		}
		for _, p := range []struct {
			dst *pg.LSN
			src *string
		}{{&r.SentLSN, sent}, {&r.WriteLSN, write}, {&r.FlushLSN, fl}, {&r.ReplayLSN, rep}} {
			if *p.dst, err = parseNullLSN(p.src); err != nil {
				return err
			}
		}
		st.Replication = append(st.Replication, r)
	}
	return rows.Err()
}

// fillReceipt copies the WAL receiver's message times and the upstream's
// end of WAL into st.
func fillReceipt(st *pg.Status, sendTime, receiptTime *time.Time, endLSN *string, endTime *time.Time) error {
	var err error
	if st.LatestEndLSN, err = parseNullLSN(endLSN); err != nil {
		return err
	}
	for _, p := range []struct {
		dst *time.Time
		src *time.Time
	}{{&st.LastMsgSendTime, sendTime}, {&st.LastMsgReceiptTime, receiptTime}, {&st.LatestEndTime, endTime}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return nil
}

// parseNullLSN parses an optional LSN column scanned as text.
func parseNullLSN(s *string) (pg.LSN, error) {
	if s == nil || *s == "" {
		return 0, nil
	}
	return pg.ParseLSN(*s)
}
