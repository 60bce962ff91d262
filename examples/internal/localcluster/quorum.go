package localcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WaitQuorum waits, with synchronous_mode quorum, until synchronous
// replication has settled on leader: the sync key, written by leader,
// names every other running node as a standby, and leader's PostgreSQL
// has a quorum (or synchronous) standby streaming, so that commits wait
// for one. It returns the standbys the sync key names. Bound it with ctx.
//
// A fault must not be injected before: changing the standbys takes the
// leader through a sync key that names none for about a loop, and a
// primary lost then leaves no replica eligible for promotion.
func (c *Cluster) WaitQuorum(ctx context.Context, leader string) ([]string, error) {
	var standbys []string
	err := Poll(ctx, 100*time.Millisecond, func() error {
		snap, err := c.Snapshot(ctx)
		if err != nil {
			return err
		}
		s := snap.Sync
		if s == nil || s.Leader != leader {
			return fmt.Errorf("sync key %+v, want leader %s", s, leader)
		}
		for _, n := range c.nodes {
			if n.name != leader && n.Running() && !s.IsSync(n.name) {
				return fmt.Errorf("sync key %+v does not name %s", s, n.name)
			}
		}
		standbys = s.SyncStandby
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(qctx, c.NodeDSN(leader))
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		var streaming int
		if err := conn.QueryRow(qctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')").Scan(&streaming); err != nil {
			return err
		}
		if streaming == 0 {
			return fmt.Errorf("no synchronous standby streams from %s", leader)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("localcluster: synchronous replication not settled: %w", err)
	}
	return standbys, nil
}
