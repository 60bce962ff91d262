package localcluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/pg"
)

// SwitchPoint reads node's history file of timeline tl and returns where
// tl branched off its parent: the WAL position at which the promotion that
// created tl ended the parent timeline. A node that had WAL of the parent
// beyond that point diverged and needs pg_rewind (or a new clone) to
// follow tl.
func (c *Cluster) SwitchPoint(ctx context.Context, node string, tl int64) (int64, error) {
	if tl < 2 {
		return 0, fmt.Errorf("localcluster: timeline %d has no parent", tl)
	}
	conn, err := pgx.Connect(ctx, c.NodeDSN(node))
	if err != nil {
		return 0, fmt.Errorf("localcluster: switch point on %s: %w", node, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var history string
	file := fmt.Sprintf("pg_wal/%08X.history", tl)
	if err := conn.QueryRow(ctx, "SELECT pg_read_file($1)", file).Scan(&history); err != nil {
		return 0, fmt.Errorf("localcluster: read %s on %s: %w", file, node, err)
	}
	return parseSwitchPoint(history, tl)
}

// parseSwitchPoint takes the switch point from the last entry of a
// timeline history file ("<parent tli>\t<lsn>\t<reason>" per line).
func parseSwitchPoint(history string, tl int64) (int64, error) {
	var last string
	for line := range strings.Lines(history) {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			last = f[1]
		}
	}
	if last == "" {
		return 0, fmt.Errorf("localcluster: history of timeline %d has no entry", tl)
	}
	lsn, err := pg.ParseLSN(last)
	if err != nil {
		return 0, fmt.Errorf("localcluster: history of timeline %d: %w", tl, err)
	}
	return lsn.Int64(), nil
}
