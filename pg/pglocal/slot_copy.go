package pglocal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgha/pgha/pg"
)

var _ pg.LogicalSlotCopier = (*Local)(nil)

// Layout of ReplicationSlotOnDisk (src/backend/replication/slot.c): magic,
// CRC-32C of everything after the first 8 bytes, version, length of the
// rest, then the persistent data, which starts with the slot name.
const (
	slotMagic          = 0x1051CA1
	slotConstantSize   = 16
	slotNotChecksummed = 8
	slotNameOffset     = 16
	slotNameLen        = 64
)

// checkSlotState verifies that data is a slot state file of slot name.
func checkSlotState(name string, data []byte) error {
	if len(data) < slotNameOffset+slotNameLen {
		return fmt.Errorf("%w: state of slot %s: %d bytes is too short", pg.ErrInvalidConfig, name, len(data))
	}
	if m := binary.NativeEndian.Uint32(data[0:]); m != slotMagic {
		return fmt.Errorf("%w: state of slot %s: bad magic %#x", pg.ErrInvalidConfig, name, m)
	}
	if n := binary.NativeEndian.Uint32(data[12:]); int(n)+slotConstantSize != len(data) {
		return fmt.Errorf("%w: state of slot %s: length %d does not match %d bytes", pg.ErrInvalidConfig, name, n, len(data))
	}
	sum := crc32.Checksum(data[slotNotChecksummed:], crc32.MakeTable(crc32.Castagnoli))
	if c := binary.NativeEndian.Uint32(data[4:]); c != sum {
		return fmt.Errorf("%w: state of slot %s: checksum %#x, computed %#x", pg.ErrInvalidConfig, name, c, sum)
	}
	raw := data[slotNameOffset : slotNameOffset+slotNameLen]
	got := raw
	for i, b := range raw {
		if b == 0 {
			got = raw[:i]
			break
		}
	}
	if string(got) != name {
		return fmt.Errorf("%w: state file names slot %q, not %s", pg.ErrInvalidConfig, got, name)
	}
	return nil
}

// copyCredentials is the role that reads slot files on the primary: the
// Rewind role, which Bootstrap grants pg_read_binary_file, or the
// superuser when the Rewind role has no password (as for pg_rewind).
func (l *Local) copyCredentials() Credentials {
	if l.cfg.Rewind.Password == "" {
		return l.cfg.Superuser
	}
	return l.cfg.Rewind
}

// UpstreamSlots implements [LogicalSlotCopier].
func (l *Local) UpstreamSlots(ctx context.Context, up pg.Upstream, names []string) ([]pg.SlotCopy, error) {
	if up.IsZero() {
		return nil, fmt.Errorf("%w: UpstreamSlots needs an upstream", pg.ErrInvalidConfig)
	}
	for _, n := range names {
		if err := pg.ValidSlotName(n); err != nil {
			return nil, err
		}
	}
	cc, err := dialConfig(up.Host, up.Port, l.copyCredentials(), "postgres", 3)
	if err != nil {
		return nil, err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, classify(fmt.Errorf("pg: read slots of %s:%d: %w", up.Host, up.Port, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	var recovery bool
	if err := c.QueryRow(ctx, "SELECT pg_catalog.pg_is_in_recovery()").Scan(&recovery); err != nil {
		return nil, fmt.Errorf("pg: read slots of %s:%d: %w", up.Host, up.Port, err)
	}
	if recovery {
		return nil, fmt.Errorf("pg: read slots of %s:%d: it is not a primary", up.Host, up.Port)
	}
	const q = `SELECT slot_name::text, slot_type, active, restart_lsn::text, COALESCE(database::text, ''),
  COALESCE(plugin::text, ''), confirmed_flush_lsn::text, COALESCE(catalog_xmin::text, '0'),
  CASE WHEN slot_type = 'logical' THEN pg_catalog.pg_read_binary_file('pg_replslot/' || slot_name || '/state') END
FROM pg_catalog.pg_replication_slots
WHERE slot_name = ANY($1::text[]) AND NOT temporary ORDER BY slot_name`
	rows, err := c.Query(ctx, q, names)
	if err != nil {
		return nil, fmt.Errorf("pg: read slots of %s:%d: %w", up.Host, up.Port, err)
	}
	defer rows.Close()
	var out []pg.SlotCopy
	for rows.Next() {
		var s pg.SlotCopy
		var restart, confirmed *string
		var xmin string
		if err := rows.Scan(&s.Name, &s.Type, &s.Active, &restart, &s.Database, &s.Plugin, &confirmed, &xmin, &s.State); err != nil {
			return nil, fmt.Errorf("pg: read slots of %s:%d: %w", up.Host, up.Port, err)
		}
		if s.RestartLSN, err = parseNullLSN(restart); err != nil {
			return nil, err
		}
		if s.ConfirmedFlushLSN, err = parseNullLSN(confirmed); err != nil {
			return nil, err
		}
		if s.CatalogXmin, err = parseXid(xmin); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pg: read slots of %s:%d: %w", up.Host, up.Port, err)
	}
	return out, nil
}

// parseXid parses a transaction id (xid) column scanned as text.
func parseXid(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("pg: invalid transaction id %q: %w", s, err)
	}
	return uint32(v), nil
}

// InstallLogicalSlots implements [LogicalSlotCopier]. Each state file is
// written to a temporary directory, synced, and renamed into place while
// the server is stopped, so a crash leaves either the old slot or the new
// one; the server is started again even when writing failed.
func (l *Local) InstallLogicalSlots(ctx context.Context, copies []pg.SlotCopy) error {
	if len(copies) == 0 {
		return nil
	}
	for _, s := range copies {
		if err := pg.ValidSlotName(s.Name); err != nil {
			return err
		}
		if s.Type != "logical" {
			return fmt.Errorf("%w: slot %s is %s, only logical slots are copied", pg.ErrInvalidConfig, s.Name, s.Type)
		}
		if err := checkSlotState(s.Name, s.State); err != nil {
			return err
		}
	}
	l.lockOp()
	defer l.op.Unlock()
	var recovery, feedback bool
	var segSize int64
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('hot_standby_feedback')::bool,
  (SELECT setting::bigint FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size')`).Scan(&recovery, &feedback, &segSize)
	})
	if err != nil {
		return fmt.Errorf("pg: install logical slots: %w", err)
	}
	if !recovery {
		return fmt.Errorf("pg: install logical slots: %w", pg.ErrNotReplica)
	}
	if !feedback {
		return fmt.Errorf("%w: hot_standby_feedback is off: a copied logical slot would not hold its catalog rows on the primary", pg.ErrInvalidConfig)
	}
	for _, s := range copies {
		if err := l.haveWALFrom(s.RestartLSN, segSize); err != nil {
			return fmt.Errorf("pg: install slot %s: %w", s.Name, err)
		}
	}
	if err := l.stop(ctx, pg.StopFast); err != nil {
		return err
	}
	var werr error
	for _, s := range copies {
		if werr = l.writeSlotState(s.Name, s.State); werr != nil {
			break
		}
		l.log.Info("pg: installed a logical slot copied from the primary", "slot", s.Name,
			"restart_lsn", s.RestartLSN.String(), "catalog_xmin", s.CatalogXmin)
	}
	if werr == nil {
		werr = syncDir(filepath.Join(l.cfg.DataDir, "pg_replslot"))
	}
	if err := l.start(ctx); err != nil {
		return errors.Join(werr, err)
	}
	return werr
}

// haveWALFrom checks that pg_wal holds the segment with lsn (on any
// timeline): a slot copied with an older restart_lsn could never be
// advanced or decoded here. The error wraps ErrSlotUnusable.
func (l *Local) haveWALFrom(lsn pg.LSN, segSize int64) error {
	if segSize <= 0 || segSize&(segSize-1) != 0 {
		return fmt.Errorf("pg: wal_segment_size %d is not a power of two", segSize)
	}
	seg := uint64(lsn) / uint64(segSize)
	perID := uint64(0x100000000) / uint64(segSize)
	suffix := fmt.Sprintf("%08X%08X", seg/perID, seg%perID)
	entries, err := os.ReadDir(filepath.Join(l.cfg.DataDir, "pg_wal"))
	if err != nil {
		return fmt.Errorf("pg: read pg_wal: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); len(n) == 24 && n[8:] == suffix {
			return nil
		}
	}
	return fmt.Errorf("%w: this server no longer has the WAL from restart_lsn %v (segment %s)", pg.ErrSlotUnusable, lsn, suffix)
}

// writeSlotState puts pg_replslot/<name>/state in place; the server is
// stopped.
func (l *Local) writeSlotState(name string, data []byte) error {
	base := filepath.Join(l.cfg.DataDir, "pg_replslot")
	dir, tmp := filepath.Join(base, name), filepath.Join(base, name+".pgha-tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pg: install slot %s: %w", name, err)
	}
	if err := l.ensureDir(tmp, 0o700); err != nil {
		return err
	}
	path := filepath.Join(tmp, "state")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pg: install slot %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.chown(path)
	}
	if err == nil {
		err = syncDir(tmp)
	}
	if err == nil {
		err = os.RemoveAll(dir)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("pg: install slot %s: %w", name, err)
	}
	return nil
}

// syncDir fsyncs a directory so that renames in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pg: sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("pg: sync %s: %w", dir, err)
	}
	return nil
}

// AdvanceLogicalSlot implements [LogicalSlotCopier].
func (l *Local) AdvanceLogicalSlot(ctx context.Context, name, database string, lsn pg.LSN) error {
	if err := pg.ValidSlotName(name); err != nil {
		return err
	}
	if err := validRoleName(database); err != nil {
		return fmt.Errorf("%w: database: %v", pg.ErrInvalidConfig, err)
	}
	if l.runningPID() == 0 {
		return fmt.Errorf("pg: advance slot %s: %w", name, pg.ErrNotRunning)
	}
	cc, err := dialConfig(l.cfg.SocketDir, l.cfg.Port, l.cfg.Superuser, database, max(1, int(l.cfg.StatusTimeout.Seconds())))
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return classify(fmt.Errorf("pg: advance slot %s: connect to %s: %w", name, database, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	// PostgreSQL refuses a target before confirmed_flush_lsn and clamps
	// one beyond the replay (flush) position; both bounds apply here so
	// that a slot already there is a no-op.
	const q = `WITH t AS (SELECT LEAST($2::pg_lsn, CASE WHEN pg_catalog.pg_is_in_recovery()
  THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_flush_lsn() END) AS lsn)
SELECT pg_catalog.pg_replication_slot_advance(s.slot_name, t.lsn)
FROM pg_catalog.pg_replication_slots s, t
WHERE s.slot_name = $1 AND s.slot_type = 'logical' AND NOT s.active AND s.confirmed_flush_lsn < t.lsn`
	_, err = c.Exec(ctx, q, name, lsn.String())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "58P01" || pgErr.Code == "55000") {
		return fmt.Errorf("pg: advance slot %s: %w: %w", name, pg.ErrSlotUnusable, err)
	}
	if err != nil {
		return fmt.Errorf("pg: advance slot %s: %w", name, err)
	}
	return nil
}
