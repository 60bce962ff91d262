package failover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

const (
	itScope    = "itest"
	suPassword = "su-secret"
)

// itParams keep three instances small on a shared 2-core machine.
var itParams = map[string]string{
	"shared_buffers":               "16MB",
	"max_connections":              "30",
	"fsync":                        "off",
	"max_wal_size":                 "256MB",
	"log_min_messages":             "warning",
	"wal_receiver_status_interval": "1s",
	"wal_retrieve_retry_interval":  "500ms",
}

func itLogger(t testing.TB, tail *logTail) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(tail, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// tailLines is how many lines a failed test prints of its components'
// logs.
const tailLines = 300

// logTail keeps the last lines the test cluster's components logged and
// prints them when the test fails: a CI failure then says what the
// Controllers decided without a -v run.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

// newLogTail returns a tail printed by t.Cleanup if t failed.
func newLogTail(t testing.TB) *logTail {
	l := &logTail{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		lines := l.lines[max(0, len(l.lines)-tailLines):]
		t.Logf("last %d log lines of the test cluster:\n%s", len(lines), strings.Join(lines, "\n"))
	})
	return l
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	if len(l.lines) > 2*tailLines {
		l.lines = append([]string(nil), l.lines[len(l.lines)-tailLines:]...)
	}
	return len(p), nil
}

// recorder collects every node's events, for ordering assertions.
type recorder struct {
	mu     sync.Mutex
	events []failover.Event
}

func (r *recorder) add(e failover.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// first returns the first event of kind by member at or after since.
func (r *recorder) first(member string, kind failover.EventKind, since time.Time) (failover.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if (member == "" || e.Member == member) && e.Kind == kind && !e.Time.Before(since) {
			return e, true
		}
	}
	return failover.Event{}, false
}

// node is one member: PostgreSQL, a Controller with its health API, and a
// fault proxy in front of its etcd endpoint.
type node struct {
	name    string
	inst    *pglocal.Local
	apiPort int
	proxy   *testutil.Proxy
	store   *etcd.Store
	// tags and hooks go into the node's ControllerOptions (set before
	// start).
	tags  dcs.Tags
	hooks failover.Hooks

	mu     sync.Mutex
	ctrl   *failover.Controller
	cancel context.CancelFunc
	done   chan struct{}
	srv    *http.Server
}

// itCluster is the shared test cluster.
type itCluster struct {
	t        testing.TB
	etcd     *testutil.EtcdCluster
	admin    *etcd.Store
	nodes    []*node
	rec      *recorder
	settings failover.Settings
	logs     *logTail
}

func newITCluster(t testing.TB, n int) *itCluster {
	return newITClusterWith(t, n, nil)
}

// newITClusterWith is newITCluster with edit applied to the settings
// before any node starts (nil: none).
func newITClusterWith(t testing.TB, n int, edit func(*failover.Settings)) *itCluster {
	t.Helper()
	ec := testutil.StartEtcd(t, 3)
	c := &itCluster{t: t, etcd: ec, rec: &recorder{}, settings: failover.DefaultSettings(), logs: newLogTail(t)}
	c.settings.UsePgRewind = true
	// pg_rewind of a crashed former primary can fail; re-clone then, as
	// Patroni's remove_data_directory_on_rewind_failure.
	c.settings.RemoveDataOnRewindFailure = true
	if edit != nil {
		edit(&c.settings)
	}
	c.admin = newStore(t, ec.Endpoint(0))
	bin := testutil.PGBinDir(t)
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dir := testutil.TempDirFor(t, "postgres")
		ports := testutil.FreePorts(t, 2)
		inst, err := pglocal.New(pglocal.Config{
			Name: name, Scope: itScope, BinDir: bin, DataDir: filepath.Join(dir, "data"), Port: ports[0], SocketDir: dir,
			Superuser: pglocal.Credentials{Password: suPassword}, Replication: pglocal.Credentials{Password: "repl-secret"},
			Parameters: itParams, Logger: itLogger(t, c.logs).With("pg", name),
		})
		if err != nil {
			t.Fatalf("NewLocal(%s): %v", name, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = inst.Stop(ctx, pg.StopImmediate)
		})
		target := strings.TrimPrefix(ec.Endpoint(i%ec.Size()), "http://")
		proxy := testutil.NewProxy(t, target)
		c.nodes = append(c.nodes, &node{name: name, inst: inst, apiPort: ports[1], proxy: proxy, store: newStore(t, proxy.URL())})
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.stop(failover.ExitAbandon)
		}
	})
	return c
}

func newStore(t testing.TB, endpoint string) *etcd.Store {
	t.Helper()
	s, err := etcd.New(etcd.Config{Endpoints: []string{endpoint}, Scope: itScope, RequestTimeout: time.Second,
		DialTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("etcd.New(%s): %v", endpoint, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// start runs a fresh Controller (and its health API) for nd.
func (c *itCluster) start(nd *node) {
	c.t.Helper()
	ctrl, err := failover.NewController(failover.ControllerOptions{
		Name: nd.name, Scope: itScope, Store: nd.store, Instance: nd.inst,
		ConnURL:   fmt.Sprintf("postgres://127.0.0.1:%d/postgres", nd.inst.Port()),
		APIURL:    fmt.Sprintf("http://127.0.0.1:%d/patroni", nd.apiPort),
		Settings:  c.settings,
		Bootstrap: &pg.BootstrapOptions{NoSync: true},
		Logger:    itLogger(c.t, c.logs).With("ctl", nd.name),
		OnEvent:   c.rec.add,
		ExitMode:  failover.ExitAbandon,
		Tags:      nd.tags,
		Hooks:     nd.hooks,
	})
	if err != nil {
		c.t.Fatalf("NewController(%s): %v", nd.name, err)
	}
	h, err := healthapi.New(healthapi.Options{Source: ctrl, Manager: ctrl, AllowUnauthenticated: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(nd.apiPort))
	if err != nil {
		c.t.Fatalf("listen for %s's API: %v", nd.name, err)
	}
	srv := healthapi.NewServer(h, healthapi.ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctrl.Run(ctx); err != nil {
			c.t.Errorf("Run(%s): %v", nd.name, err)
		}
	}()
	nd.mu.Lock()
	nd.ctrl, nd.cancel, nd.done, nd.srv = ctrl, cancel, done, srv
	nd.mu.Unlock()
}

// stop ends nd's Controller and closes its API (an agent crash with
// ExitAbandon: the lease is neither renewed nor revoked, PostgreSQL is
// left as it is).
func (nd *node) stop(mode failover.ExitMode) {
	nd.mu.Lock()
	cancel, done, srv := nd.cancel, nd.done, nd.srv
	nd.cancel, nd.done, nd.srv = nil, nil, nil
	nd.mu.Unlock()
	if cancel == nil {
		return
	}
	_ = srv.Close()
	cancel()
	<-done
}

func (nd *node) controller() *failover.Controller {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.ctrl
}

func (nd *node) state() *healthapi.NodeState {
	if c := nd.controller(); c != nil {
		return c.State()
	}
	return nil
}

func (c *itCluster) node(name string) *node {
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

// cluster reads the DCS through the admin client.
func (c *itCluster) cluster(t testing.TB) *dcs.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := c.admin.Get(ctx)
	if err != nil {
		t.Fatalf("read DCS: %v", err)
	}
	return dcs.Parse(snap)
}

// waitLeader waits until one node holds the key and runs a primary, and
// every other running node streams from it on its timeline; it returns
// the leader.
func (c *itCluster) waitHealthy(t testing.TB, timeout time.Duration, skip ...string) *node {
	t.Helper()
	var leader *node
	testutil.Eventually(t, timeout, func() error {
		leader = nil
		cl := c.cluster(t)
		if cl.Leader == nil {
			return errors.New("no leader key")
		}
		leader = c.node(cl.Leader.Name)
		ls := leader.state()
		if ls == nil || !ls.IsLeader || ls.Role != dcs.RolePrimary || ls.PGState != dcs.StateRunning {
			return fmt.Errorf("leader %s not a running primary yet: %+v", leader.name, brief(ls))
		}
		for _, nd := range c.nodes {
			if nd == leader || contains(skip, nd.name) {
				continue
			}
			s := nd.state()
			if s == nil || s.IsLeader || s.Role != dcs.RoleReplica || s.ReplicationState != dcs.ReplicationStreaming || s.Timeline != ls.Timeline {
				return fmt.Errorf("%s is not streaming from %s on timeline %d: %+v", nd.name, leader.name, ls.Timeline, brief(s))
			}
		}
		return nil
	}, "a healthy cluster")
	return leader
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func brief(s *healthapi.NodeState) string {
	if s == nil {
		return "no state"
	}
	return fmt.Sprintf("leader=%v role=%s state=%s tl=%d repl=%q", s.IsLeader, s.Role, s.PGState, s.Timeline, s.ReplicationState)
}

// killPostmaster SIGKILLs nd's postmaster.
func killPostmaster(t testing.TB, nd *node) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nd.inst.DataDir(), "postmaster.pid"))
	if err != nil {
		t.Fatalf("read postmaster.pid of %s: %v", nd.name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid of %s: %v", nd.name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill postmaster %d of %s: %v", pid, nd.name, err)
	}
}

func connect(ctx context.Context, nd *node) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres connect_timeout=2",
		nd.inst.Port(), suPassword))
}

func execSQL(t testing.TB, nd *node, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, nd)
	if err != nil {
		t.Fatalf("connect to %s: %v", nd.name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, nd.name, err)
	}
}

// writer inserts rows into acked on whichever node currently is the
// primary, recording every acknowledged id.
type writer struct {
	c      *itCluster
	mu     sync.Mutex
	acked  []int64
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *itCluster) startWriter(t testing.TB) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{c: c, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	t.Cleanup(w.stop)
	return w
}

func (w *writer) stop() {
	w.cancel()
	<-w.done
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	id := int64(0)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		if conn == nil {
			for _, nd := range w.c.nodes {
				if s := nd.state(); s != nil && s.IsLeader && s.Role == dcs.RolePrimary {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					conn, _ = connect(cctx, nd)
					cancel()
					break
				}
			}
			if conn == nil {
				continue
			}
		}
		id++
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := conn.Exec(qctx, "INSERT INTO acked(id) VALUES ($1)", id)
		cancel()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			continue
		}
		w.mu.Lock()
		w.acked = append(w.acked, id)
		w.mu.Unlock()
	}
}

// missing returns the acknowledged ids that nd does not have.
func (w *writer) missing(t testing.TB, nd *node) []int64 {
	t.Helper()
	have := ackedOn(t, nd)
	w.mu.Lock()
	defer w.mu.Unlock()
	return missingFrom(w.acked, have)
}

// ackedOn returns the ids in nd's acked table.
func ackedOn(t testing.TB, nd *node) map[int64]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, nd)
	if err != nil {
		t.Fatalf("connect to %s: %v", nd.name, err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id FROM acked")
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return have
}

// missingFrom returns the ids of acked that are not in have, in order.
func missingFrom(acked []int64, have map[int64]bool) []int64 {
	var out []int64
	for _, id := range acked {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// startLoad inserts rows into nd directly (whatever its role) until the
// returned stop is called, so that its replicas keep receiving WAL.
func startLoad(t testing.TB, nd *node) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pace := time.NewTicker(20 * time.Millisecond)
		defer pace.Stop()
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
			if conn == nil {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				conn, _ = connect(cctx, nd)
				ccancel()
				continue
			}
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := conn.Exec(qctx, "INSERT INTO load(v) VALUES (now())")
			qcancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
