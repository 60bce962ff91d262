package pg

import (
	"context"
	"errors"
)

// ErrSlotUnusable means a replication slot cannot be advanced any more:
// the WAL it needs is gone (SQLSTATE 58P01) or it was invalidated or never
// reserved WAL (55000); or, from InstallLogicalSlots, that the replica no
// longer has the WAL a copy would need. A copied logical slot in that state
// must be copied again from the primary once the primary's slot has moved
// past the replica's oldest WAL.
var ErrSlotUnusable = errors.New("pg: replication slot is unusable")

// SlotCopy is a replication slot as read from the primary: its row of
// pg_replication_slots and, for a logical slot, the content of its state
// file (pg_replslot/<name>/state) as the primary last saved it, which may
// be older than the row (PostgreSQL saves a slot at checkpoints and when
// its catalog_xmin or restart_lsn moves).
type SlotCopy struct {
	Slot
	State []byte
}

// LogicalSlotCopier is implemented by instances that can keep the
// cluster's permanent logical slots on a replica (pglocal.Local does), so that
// they exist on whichever replica is promoted after a failover.
// PostgreSQL 15 has no failover slots; pgha does what Patroni does there:
// it copies the slot's state file from the primary, restarts the replica
// so that it loads the slot, and then moves the copy forward with
// pg_replication_slot_advance, which PostgreSQL 15 allows on a standby.
// The copy holds catalog rows on the primary through the replica's
// physical slot only while hot_standby_feedback is on.
type LogicalSlotCopier interface {
	// UpstreamSlots reads the named slots on the running primary up, with
	// the state file of each logical one. Slots that do not exist there
	// are left out; an upstream in recovery is an error (ErrNotReplica is
	// not it: the error says the upstream is not a primary).
	UpstreamSlots(ctx context.Context, up Upstream, names []string) ([]SlotCopy, error)
	// InstallLogicalSlots writes the state files of logical slots copied
	// by UpstreamSlots into this replica's pg_replslot, replacing any
	// local slot of the same name, and restarts the server (fast stop,
	// then start as before) so that it loads them. It refuses, with
	// nothing changed, when the server is not a running replica
	// (ErrNotReplica), when hot_standby_feedback is off (ErrInvalidConfig:
	// the copy would not hold its catalog rows on the primary), when a
	// state file is not a valid slot state of that name, or when the
	// replica no longer has the WAL from a copy's restart_lsn
	// (ErrSlotUnusable: the copy could never be advanced; copy again once
	// the primary's slot has moved on).
	InstallLogicalSlots(ctx context.Context, copies []SlotCopy) error
	// AdvanceLogicalSlot moves a logical slot's confirmed position forward
	// to lsn, never back and never past the server's replay (or flush)
	// position. It connects to database, the slot's. The error wraps
	// ErrSlotUnusable when the slot can no longer be advanced.
	AdvanceLogicalSlot(ctx context.Context, name, database string, lsn LSN) error
}
