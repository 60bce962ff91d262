package localcluster

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// stateQuery reads whether the server is a primary, when its postmaster
// started, its timeline (a primary's from the name of its current WAL file,
// the first eight hex digits; a replica's from its WAL receiver, 0 while it
// has none) and the end of the WAL it has (a primary's flush position, a
// replica's last received, else replayed, position).
const stateQuery = `SELECT pg_is_in_recovery(), pg_postmaster_start_time(),
	CASE WHEN pg_is_in_recovery()
		THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), 0)::bigint
		ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
	END,
	coalesce(CASE WHEN pg_is_in_recovery()
		THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
		ELSE pg_current_wal_flush_lsn()
	END - '0/0'::pg_lsn, 0)::bigint`

// StateWatch probes every node's PostgreSQL directly (one connection per
// node, reconnecting after an error) and records each node's
// [NodeState] whenever it changes, for [Disruptions].
type StateWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	states []NodeState
	wal    map[string][]WALMark // per node, each time its WAL end grew
	probes int
	probed map[string]bool // nodes probed at least once
}

// WatchStates starts probing every node every `every` (default 100 ms)
// until Stop or ctx ends.
func (c *Cluster) WatchStates(ctx context.Context, every time.Duration) *StateWatch {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	sw := &StateWatch{cancel: cancel, probed: map[string]bool{}, wal: map[string][]WALMark{}}
	for _, n := range c.nodes {
		dsn := c.NodeDSN(n.name)
		sw.wg.Go(func() { sw.probe(ctx, n.name, dsn, every) })
	}
	return sw
}

// probe is one node's probing loop.
func (sw *StateWatch) probe(ctx context.Context, node, dsn string, every time.Duration) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	var last NodeState
	first := true
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := NodeState{Node: node}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			conn, _ = pgx.Connect(cctx, dsn)
			cancel()
		}
		if conn != nil {
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			var inRecovery bool
			err := conn.QueryRow(qctx, stateQuery).Scan(&inRecovery, &s.Started, &s.Timeline, &s.WAL)
			cancel()
			if err == nil {
				s.Up, s.Primary = true, !inRecovery
			} else {
				_ = conn.Close(context.Background())
				conn = nil
			}
		}
		s.At = time.Now()
		if ctx.Err() != nil {
			return // a probe cut short by Stop says nothing about the node
		}
		sw.mu.Lock()
		sw.probes++
		sw.probed[node] = true
		if first || !s.same(last) {
			sw.states = append(sw.states, s)
		}
		if marks := sw.wal[node]; s.Up && (len(marks) == 0 || s.WAL > marks[len(marks)-1].WAL) {
			sw.wal[node] = append(marks, WALMark{At: s.At, WAL: s.WAL})
		}
		sw.mu.Unlock()
		last, first = s, false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stop ends the probing and waits for it; it is idempotent.
func (sw *StateWatch) Stop() {
	sw.cancel()
	sw.wg.Wait()
}

// States returns the recorded states: each node's first state and every
// change, ordered by time per node.
func (sw *StateWatch) States() []NodeState {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return append([]NodeState(nil), sw.states...)
}

// WAL returns, per node, each probe at which the end of its WAL was
// further than ever before.
func (sw *StateWatch) WAL() map[string][]WALMark {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	out := make(map[string][]WALMark, len(sw.wal))
	for n, m := range sw.wal {
		out[n] = append([]WALMark(nil), m...)
	}
	return out
}

// ProbedNodes is the number of nodes probed at least once so far.
func (sw *StateWatch) ProbedNodes() int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.probed)
}

// Probes is the number of probes made so far, over all nodes.
func (sw *StateWatch) Probes() int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.probes
}
