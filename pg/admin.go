package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Slots lists the replication slots of the running server.
func (l *Local) Slots(ctx context.Context) ([]Slot, error) {
	var out []Slot
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		out = nil
		rows, err := c.Query(ctx, "SELECT slot_name::text, slot_type, active, restart_lsn::text FROM pg_replication_slots ORDER BY slot_name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s Slot
			var restart *string
			if err := rows.Scan(&s.Name, &s.Type, &s.Active, &restart); err != nil {
				return err
			}
			if s.RestartLSN, err = parseNullLSN(restart); err != nil {
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
	if err := validSlotName(name); err != nil {
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

// DropSlot drops a replication slot. A missing slot is not an error; an
// active one is (PostgreSQL refuses while a replica streams from it).
func (l *Local) DropSlot(ctx context.Context, name string) error {
	if err := validSlotName(name); err != nil {
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
func (l *Local) SetSynchronousStandbyNames(ctx context.Context, s SyncStandbys) error {
	if err := s.validate(); err != nil {
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
