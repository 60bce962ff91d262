package pg

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

const statusQuery = `SELECT pg_is_in_recovery(),
  current_setting('server_version_num')::int,
  pg_postmaster_start_time(),
  (SELECT system_identifier::text FROM pg_control_system()),
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_flush_lsn()), 1, 8) END,
  (SELECT timeline_id FROM pg_control_checkpoint()),
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END,
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  pg_last_xact_replay_timestamp(),
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1),
  EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart),
  current_setting('synchronous_standby_names')`

const replicationQuery = `SELECT pid, coalesce(usename::text, ''), application_name,
  coalesce(client_addr::text, ''), coalesce(state, ''), coalesce(sync_state, ''), coalesce(sync_priority, 0),
  sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text
  FROM pg_stat_replication ORDER BY application_name, pid`

// Status returns a snapshot of the server over the reused connection. When
// the server is not running only State is set and the error is nil.
func (l *Local) Status(ctx context.Context) (Status, error) {
	st := Status{State: l.State()}
	if st.State != StateRunning {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.StatusTimeout)
	defer cancel()
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return queryStatus(ctx, c, &st)
	})
	if err != nil {
		return st, fmt.Errorf("pg: status: %w", err)
	}
	return st, nil
}

func queryStatus(ctx context.Context, c *pgx.Conn, st *Status) error {
	var (
		inRecovery                  bool
		sysID                       string
		walTLI, flush, recv, replay *string
		ckptTLI                     int32
		replayTS                    *time.Time
		rcvStatus, rcvHost          *string
		rcvTLI                      *int32
	)
	err := c.QueryRow(ctx, statusQuery).Scan(&inRecovery, &st.ServerVersion, &st.PostmasterStart, &sysID,
		&walTLI, &ckptTLI, &flush, &recv, &replay, &replayTS, &rcvStatus, &rcvTLI, &rcvHost,
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
		st.Role = RoleReplica
		st.Receiver = ReceiverArchive
		if rcvStatus != nil && *rcvStatus == "streaming" {
			st.Receiver = ReceiverStreaming
		}
		if rcvTLI != nil && *rcvTLI > 0 {
			st.Timeline = uint32(*rcvTLI)
		}
		if rcvHost != nil {
			st.ReceiverUpstream = *rcvHost
		}
	} else {
		st.Role = RolePrimary
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
		var r Replication
		var sent, write, fl, rep *string
		if err := rows.Scan(&r.PID, &r.User, &r.ApplicationName, &r.ClientAddr, &r.State, &r.SyncState,
			&r.SyncPriority, &sent, &write, &fl, &rep); err != nil {
			return err
		}
		for _, p := range []struct {
			dst *LSN
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
