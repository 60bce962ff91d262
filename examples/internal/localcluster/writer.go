package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// writesTable holds the Writer's rows.
const writesTable = "pgha_writes"

// WriterOptions configure [Cluster.StartWriter].
type WriterOptions struct {
	// DSN is where to write; default the HAProxy read-write listener.
	// Node, when set, writes directly to that node's PostgreSQL instead.
	DSN  string
	Node string
	// Interval is the pause after each acknowledged insert; default 10 ms.
	Interval time.Duration
	// Timeout bounds each connect and insert; default 1 s.
	Timeout time.Duration
	// Logger defaults to the cluster's.
	Logger *slog.Logger
}

// Ack is one acknowledged (committed and confirmed) insert: the insert
// was sent at Sent and its acknowledgement received at At, so the commit
// happened within [Sent, At], on Node.
type Ack struct {
	ID   int64
	Sent time.Time
	At   time.Time
	// Node is the node whose PostgreSQL acknowledged the insert (each
	// insert returns inet_server_port(), the port of the server that
	// executed it); "" when the port is not a node's.
	Node string
}

// Writer inserts rows with unique increasing ids, one at a time, and
// records every acknowledged one with the node that acknowledged it. An
// insert whose outcome is unknown (error, timeout) is not acknowledged;
// the next attempt uses a new id.
//
// Through HAProxy (the default DSN) the writer drops its connection after
// any failed attempt and connects again, so HAProxy routes the next one.
// Directly to a node (WriterOptions.Node) it keeps its one connection
// while the server answers (a replica refusing the insert as read-only)
// and reconnects only when the connection broke: a replica is tried every
// Interval without a new backend each time.
type Writer struct {
	o      WriterOptions
	log    *slog.Logger
	ids    *idSource
	nodeOf func(port int) string
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	acks   []Ack
	errors int
}

// idSource hands out the ids of one or more writers, so that writers
// sharing a table never insert the same id.
type idSource struct {
	mu   sync.Mutex
	next int64
}

func (s *idSource) take() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	return id
}

// StartWriter creates the table if needed (retrying through HAProxy's
// read-write listener, or o.DSN, for up to 30 s) and starts writing until
// Stop.
func (c *Cluster) StartWriter(ctx context.Context, o WriterOptions) (*Writer, error) {
	dsn := o.DSN
	if dsn == "" {
		dsn = c.ReadWriteDSN()
	}
	ids, err := c.prepareWrites(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return c.startWriter(ctx, o, ids)
}

// prepareWrites creates the writers' table through dsn if needed
// (retrying for up to 30 s) and returns an id source that continues after
// the ids it holds.
func (c *Cluster) prepareWrites(ctx context.Context, dsn string) (*idSource, error) {
	ids := &idSource{}
	err := poll(ctx, 30*time.Second, 200*time.Millisecond, func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(cctx, "CREATE TABLE IF NOT EXISTS "+writesTable+" (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"); err != nil {
			return err
		}
		return conn.QueryRow(cctx, "SELECT coalesce(max(id), 0) + 1 FROM "+writesTable).Scan(&ids.next)
	})
	if err != nil {
		return nil, fmt.Errorf("localcluster: writer: create table: %w", err)
	}
	return ids, nil
}

// startWriter starts a writer taking its ids from ids (the table exists).
func (c *Cluster) startWriter(ctx context.Context, o WriterOptions, ids *idSource) (*Writer, error) {
	if o.Node != "" {
		if c.Node(o.Node) == nil {
			return nil, fmt.Errorf("%w: writer to %q", ErrUnknownNode, o.Node)
		}
		if o.DSN == "" {
			o.DSN = c.NodeDSN(o.Node)
		}
	}
	if o.DSN == "" {
		o.DSN = c.ReadWriteDSN()
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = c.log
	}
	w := &Writer{o: o, log: o.Logger, ids: ids, nodeOf: c.nodeByPGPort, done: make(chan struct{})}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go w.run(wctx)
	return w, nil
}

// nodeByPGPort names the node whose PostgreSQL listens on port, "" for
// none.
func (c *Cluster) nodeByPGPort(port int) string {
	for _, n := range c.nodes {
		if n.pgPort == port {
			return n.name
		}
	}
	return ""
}

// run is the write loop.
func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
			c, err := pgx.Connect(cctx, w.o.DSN)
			cancel()
			if err != nil {
				w.failed()
				pause.Reset(w.o.Interval)
				continue
			}
			conn = c
		}
		id := w.ids.take()
		ictx, cancel := context.WithTimeout(ctx, w.o.Timeout)
		var port int32
		sent := time.Now()
		err := conn.QueryRow(ictx, "INSERT INTO "+writesTable+" (id) VALUES ($1) RETURNING inet_server_port()", id).Scan(&port)
		acked := time.Now()
		cancel()
		if err != nil {
			w.failed()
			if w.o.Node == "" || conn.IsClosed() || !serverAnswered(err) {
				_ = conn.Close(context.Background())
				conn = nil
			}
			pause.Reset(w.o.Interval)
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, Ack{ID: id, Sent: sent, At: acked, Node: w.nodeOf(int(port))})
		w.mu.Unlock()
		pause.Reset(w.o.Interval)
	}
}

// serverAnswered reports whether err is an error PostgreSQL sent (the
// connection still works), not a broken connection or a timeout.
func serverAnswered(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

func (w *Writer) failed() {
	w.mu.Lock()
	w.errors++
	w.mu.Unlock()
}

// Stop stops writing and waits for the loop to end. It is idempotent.
func (w *Writer) Stop() {
	w.cancel()
	<-w.done
}

// Node is the node the writer writes to directly, "" through HAProxy.
func (w *Writer) Node() string { return w.o.Node }

// Acks returns the acknowledged writes in the order they were
// acknowledged (ids increase along it).
func (w *Writer) Acks() []Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Ack(nil), w.acks...)
}

// Errors is the number of failed attempts (connects and inserts).
func (w *Writer) Errors() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errors
}

// WaitAckAfter waits until a write is acknowledged after t and returns
// the first such ack.
func (w *Writer) WaitAckAfter(ctx context.Context, t time.Time) (Ack, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		i := sort.Search(len(w.acks), func(i int) bool { return w.acks[i].At.After(t) })
		var a *Ack
		if i < len(w.acks) {
			a = &w.acks[i]
		}
		w.mu.Unlock()
		if a != nil {
			return *a, nil
		}
		select {
		case <-ctx.Done():
			return Ack{}, fmt.Errorf("localcluster: no write acknowledged after %s: %w", t.Format(time.RFC3339Nano), ctx.Err())
		case <-w.done:
			return Ack{}, fmt.Errorf("localcluster: writer stopped before a write was acknowledged after %s", t.Format(time.RFC3339Nano))
		case <-tick.C:
		}
	}
}

// VerifyResult compares the acknowledged writes with what the primary
// holds.
type VerifyResult struct {
	// Primary is the member that was read.
	Primary string
	// Acked is the number of acknowledged writes, Found how many of them
	// the primary has, Lost how many it has not (LostIDs lists them).
	Acked, Found, Lost int
	LostIDs            []int64
}

// Verify reads every id back from the current primary (the leader key's
// node, connected to directly) and reports acknowledged writes that are
// missing. Call it after Writer.Stop for a complete answer.
func (c *Cluster) Verify(ctx context.Context, w *Writer) (VerifyResult, error) {
	return c.VerifyAcks(ctx, w.Acks())
}

// VerifyAcks is [Cluster.Verify] for the acknowledged writes of any
// writers that share the table (a [Recorder]'s).
func (c *Cluster) VerifyAcks(ctx context.Context, acks []Ack) (VerifyResult, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	if c.Node(leader) == nil {
		return VerifyResult{}, fmt.Errorf("localcluster: verify: no leader (%q)", leader)
	}
	have := map[int64]bool{}
	err = poll(ctx, 30*time.Second, 200*time.Millisecond, func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, c.NodeDSN(leader))
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		rows, err := conn.Query(cctx, "SELECT id FROM "+writesTable)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		clear(have)
		for _, id := range ids {
			have[id] = true
		}
		return nil
	})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("localcluster: verify: read from %s: %w", leader, err)
	}
	r := VerifyResult{Primary: leader, Acked: len(acks), LostIDs: LostWrites(acks, have)}
	r.Lost = len(r.LostIDs)
	r.Found = r.Acked - r.Lost
	return r, nil
}
