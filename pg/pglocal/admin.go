package pglocal

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgha/pgha/pg"
)

// Slots lists the replication slots of the running server.
func (l *Local) Slots(ctx context.Context) ([]pg.Slot, error) {
	var out []pg.Slot
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		out = nil
		rows, err := c.Query(ctx, "SELECT slot_name::text, slot_type, active, restart_lsn::text, COALESCE(database::text, ''), COALESCE(plugin::text, ''), confirmed_flush_lsn::text, COALESCE(catalog_xmin::text, '0') FROM pg_replication_slots ORDER BY slot_name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s pg.Slot
			var restart, confirmed *string
			var xmin string
			if err := rows.Scan(&s.Name, &s.Type, &s.Active, &restart, &s.Database, &s.Plugin, &confirmed, &xmin); err != nil {
				return err
			}
			if s.RestartLSN, err = parseNullLSN(restart); err != nil {
				return err
			}
			if s.ConfirmedFlushLSN, err = parseNullLSN(confirmed); err != nil {
				return err
			}
			if s.CatalogXmin, err = parseXid(xmin); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pg: list slots: %w", err)
	}
	return out, nil
}

// CreateSlot creates a physical replication slot that reserves WAL at once.
// Name it with [SlotName]. An existing slot is not an error.
func (l *Local) CreateSlot(ctx context.Context, name string) error {
	if err := pg.ValidSlotName(name); err != nil {
		return err
	}
	err := l.exec(ctx, "SELECT pg_create_physical_replication_slot($1, true)", name)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object
		return nil
	}
	if err != nil {
		return fmt.Errorf("pg: create slot %s: %w", name, err)
	}
	l.log.Info("pg: created replication slot", "slot", name)
	return nil
}

var _ pg.LogicalSlotCreator = (*Local)(nil)

// CreateLogicalSlot implements [LogicalSlotCreator]. It connects to
// database, where a logical slot must be created; the server needs
// wal_level logical.
func (l *Local) CreateLogicalSlot(ctx context.Context, name, plugin, database string) error {
	if err := pg.ValidSlotName(name); err != nil {
		return err
	}
	if err := validRoleName(plugin); err != nil {
		return fmt.Errorf("%w: plugin: %v", pg.ErrInvalidConfig, err)
	}
	if err := validRoleName(database); err != nil {
		return fmt.Errorf("%w: database: %v", pg.ErrInvalidConfig, err)
	}
	if l.runningPID() == 0 {
		return fmt.Errorf("pg: create logical slot %s: %w", name, pg.ErrNotRunning)
	}
	cc, err := dialConfig(l.cfg.SocketDir, l.cfg.Port, l.cfg.Superuser, database, max(1, int(l.cfg.StatusTimeout.Seconds())))
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return classify(fmt.Errorf("pg: create logical slot %s: connect to %s: %w", name, database, err))
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, $2)", name, plugin)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object
		return nil
	}
	if err != nil {
		return fmt.Errorf("pg: create logical slot %s: %w", name, err)
	}
	l.log.Info("pg: created logical replication slot", "slot", name, "plugin", plugin, "database", database)
	return nil
}

var _ pg.SlotAdvancer = (*Local)(nil)

// AdvanceSlot implements [SlotAdvancer] with pg_replication_slot_advance,
// bounded by the server's own WAL position: a replica may have published a
// position the server has not written yet only in theory, and
// PostgreSQL refuses a target beyond it.
func (l *Local) AdvanceSlot(ctx context.Context, name string, lsn pg.LSN) error {
	if err := pg.ValidSlotName(name); err != nil {
		return err
	}
	const q = `SELECT pg_catalog.pg_replication_slot_advance(slot_name, LEAST($2::pg_lsn,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_flush_lsn() END))
FROM pg_catalog.pg_replication_slots
WHERE slot_name = $1 AND slot_type = 'physical' AND NOT active AND restart_lsn < $2::pg_lsn`
	if err := l.exec(ctx, q, name, lsn.String()); err != nil {
		return fmt.Errorf("pg: advance slot %s: %w", name, err)
	}
	return nil
}

// DropSlot drops a replication slot. A missing slot is not an error; an
// active one is (PostgreSQL refuses while a replica streams from it).
func (l *Local) DropSlot(ctx context.Context, name string) error {
	if err := pg.ValidSlotName(name); err != nil {
		return err
	}
	err := l.exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", name)
	if err != nil {
		return fmt.Errorf("pg: drop slot %s: %w", name, err)
	}
	return nil
}

// SetSynchronousStandbyNames writes synchronous_standby_names to pgha.conf,
// reloads, and waits until the server reports the new value. If ALTER
// SYSTEM set it in postgresql.auto.conf, that value wins and this call
// fails when ctx ends, saying so.
func (l *Local) SetSynchronousStandbyNames(ctx context.Context, s pg.SyncStandbys) error {
	if err := s.Validate(); err != nil {
		return err
	}
	l.lockOp()
	defer l.op.Unlock()
	v := s.String()
	l.mu.Lock()
	l.conf.syncNames = v
	l.mu.Unlock()
	if err := l.reload(); err != nil {
		return err
	}
	return l.waitSettings(ctx, map[string]string{"synchronous_standby_names": v})
}

// Checkpoint runs CHECKPOINT on the local server.
func (l *Local) Checkpoint(ctx context.Context) error {
	if err := l.exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("pg: checkpoint: %w", err)
	}
	return nil
}
