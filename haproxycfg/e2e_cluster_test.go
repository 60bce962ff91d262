package haproxycfg_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/haproxycfg"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

const (
	e2eScope = "e2e"
	// e2eSuperPassword is the superuser's password; test clients connect
	// through HAProxy with it.
	e2eSuperPassword = "su-secret"
	// e2ePublishEvery is how often a node's producer refreshes its health
	// state from PostgreSQL.
	e2ePublishEvery = 100 * time.Millisecond
)

// e2eParams keep two servers small on a shared 2-core machine.
// wal_retrieve_retry_interval is lowered from 5s because a replica whose
// upstream has just stopped may sleep that long before it acts on a promote
// request (seen here as pg_promote taking 5.0 s instead of 0.1 s about one
// time in five).
var e2eParams = map[string]string{
	"shared_buffers":               "16MB",
	"max_connections":              "20",
	"fsync":                        "off",
	"max_wal_size":                 "256MB",
	"log_min_messages":             "warning",
	"wal_receiver_status_interval": "1s",
	"wal_retrieve_retry_interval":  "1s",
}

// e2eLogger shows warnings and errors in the test output.
func e2eLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// e2eNode is one member: a real PostgreSQL server and pgha's health API
// answering from a StateCache that a producer goroutine keeps current.
type e2eNode struct {
	name    string
	pg      *pglocal.Local
	apiPort int
	cache   healthapi.StateCache
}

// server is the node as HAProxy sees it.
func (n *e2eNode) server() haproxycfg.Server {
	return haproxycfg.Server{Name: n.name, Host: "127.0.0.1", Port: n.pg.Port(), CheckPort: n.apiPort}
}

// newE2ENode creates the node's PostgreSQL instance (not initialized yet)
// and starts its health API and state producer; all of them end with the
// test.
func newE2ENode(t *testing.T, name string) *e2eNode {
	t.Helper()
	dir := testutil.TempDirFor(t, "postgres")
	ports := testutil.FreePorts(t, 2)
	log := e2eLogger(t)
	l, err := pglocal.New(pglocal.Config{
		Name:        name,
		Scope:       e2eScope,
		BinDir:      testutil.PGBinDir(t),
		DataDir:     filepath.Join(dir, "data"),
		Port:        ports[0],
		SocketDir:   dir,
		Superuser:   pglocal.Credentials{Password: e2eSuperPassword},
		Replication: pglocal.Credentials{Password: "repl-secret"},
		Rewind:      pglocal.Credentials{Password: "rewind-secret"},
		Parameters:  e2eParams,
		Logger:      log,
	})
	if err != nil {
		t.Fatalf("NewLocal(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Stop(ctx, pg.StopImmediate); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	n := &e2eNode{name: name, pg: l, apiPort: ports[1]}
	n.serveAPI(t, log)
	n.runProducer(t)
	return n
}

// serveAPI serves the node's health handler on 127.0.0.1:apiPort.
func (n *e2eNode) serveAPI(t *testing.T, log *slog.Logger) {
	t.Helper()
	h, err := healthapi.New(healthapi.Options{Source: &n.cache, Logger: log})
	if err != nil {
		t.Fatalf("healthapi.New(%s): %v", n.name, err)
	}
	srv := healthapi.NewServer(h, healthapi.ServerOptions{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(n.apiPort)), Logger: log,
	})
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatalf("health API of %s: %v", n.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("health API of %s: %v", n.name, err)
		}
	})
}

// runProducer publishes the node's state every e2ePublishEvery until the
// test ends.
//
// It is a stand-in for failover.Controller, which does not exist yet and
// will publish the same snapshot after each HA loop. Without a DCS there is
// no leader lease here, so "holds the leader term" (IsLeader, which alone
// decides /primary) is taken to mean "PostgreSQL runs as a primary": in these
// tests the only primary is the one the test made leader.
func (n *e2eNode) runProducer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(e2ePublishEvery)
		defer tick.Stop()
		for {
			n.publish(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// publish reads PostgreSQL's status and stores it as a health snapshot.
func (n *e2eNode) publish(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	now := time.Now()
	s := &healthapi.NodeState{
		Name:    n.name,
		Scope:   e2eScope,
		TTL:     30 * time.Second,
		NextRun: now.Add(e2ePublishEvery),
	}
	st, err := n.pg.Status(ctx)
	if err != nil {
		// Running or not, a server that cannot be queried has no role:
		// it fails /primary and /replica alike.
		s.PGState = string(n.pg.State())
		n.cache.Store(s)
		return
	}
	s.PGState = string(st.State)
	s.ServerVersion = st.ServerVersion
	s.PostmasterStartTime = st.PostmasterStart
	s.Timeline = int64(st.Timeline)
	if st.SystemID != 0 {
		s.SystemIdentifier = strconv.FormatUint(st.SystemID, 10)
	}
	switch st.Role {
	case pg.RolePrimary:
		s.Role = dcs.RolePrimary
		s.XLogLocation = st.FlushLSN.Int64()
		s.IsLeader = st.State == pg.StateRunning
	case pg.RoleReplica:
		s.Role = dcs.RoleReplica
		s.ReceivedLSN = st.ReceiveLSN.Int64()
		s.ReplayedLSN = st.ReplayLSN.Int64()
		s.ReplayedTimestamp = st.ReplayTimestamp
		s.ReplicationState = string(st.Receiver)
	}
	for _, r := range st.Replication {
		s.Replication = append(s.Replication, healthapi.Replication{
			Usename: r.User, ApplicationName: r.ApplicationName, ClientAddr: r.ClientAddr,
			State: r.State, SyncState: r.SyncState, SyncPriority: r.SyncPriority,
		})
	}
	n.cache.Store(s)
}

// e2eCluster is a primary and a replica.
type e2eCluster struct {
	primary, replica *e2eNode
}

// startE2ECluster bootstraps node "pg1" as primary and clones "pg2" as its
// streaming replica.
func startE2ECluster(t *testing.T) *e2eCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := &e2eCluster{primary: newE2ENode(t, "pg1"), replica: newE2ENode(t, "pg2")}
	if err := c.primary.pg.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatalf("bootstrap %s: %v", c.primary.name, err)
	}
	c.attachReplica(ctx, t, true)
	return c
}

// attachReplica makes c.replica a streaming replica of c.primary: a fresh
// clone when clone is set, else (a former primary) a rewind if its history
// diverged. It waits until the replica streams.
func (c *e2eCluster) attachReplica(ctx context.Context, t *testing.T, clone bool) {
	t.Helper()
	p, r := c.primary, c.replica
	up := p.pg.Upstream()
	slot := pg.SlotName(r.name)
	if err := p.pg.CreateSlot(ctx, slot); err != nil {
		t.Fatalf("create slot %s on %s: %v", slot, p.name, err)
	}
	if clone {
		if err := r.pg.Clone(ctx, pg.CloneRequest{Upstream: up}); err != nil {
			t.Fatalf("clone %s: %v", r.name, err)
		}
	} else if d, err := r.pg.CheckDivergence(ctx, up); err != nil {
		t.Fatalf("divergence check of %s: %v", r.name, err)
	} else if d.Diverged {
		t.Logf("%s diverged (%s); rewinding", r.name, d.Reason)
		if err := r.pg.Rewind(ctx, up); err != nil {
			t.Fatalf("rewind %s: %v", r.name, err)
		}
	}
	if err := r.pg.Follow(ctx, pg.FollowConfig{Upstream: up, SlotName: slot}); err != nil {
		t.Fatalf("%s follow %s: %v", r.name, p.name, err)
	}
	testutil.EventuallyEvery(t, 30*time.Second, 100*time.Millisecond, func() error {
		st, err := r.pg.Status(ctx)
		if err != nil {
			return err
		}
		if st.Role != pg.RoleReplica || st.Receiver != pg.ReceiverStreaming {
			return fmt.Errorf("role %q, receiver %q", st.Role, st.Receiver)
		}
		return nil
	}, "%s streaming from %s", r.name, p.name)
}

// switchover swaps the roles the way a clean switchover does: the primary
// stops (fast, so the replica receives its shutdown checkpoint), the replica
// is promoted, and the old primary rejoins as a replica of the new one.
// promoted is called right after the promotion, before the rejoin.
func (c *e2eCluster) switchover(t *testing.T, promoted func(newPrimary *e2eNode)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	old, next := c.primary, c.replica
	start := time.Now()
	if err := old.pg.Stop(ctx, pg.StopFast); err != nil {
		t.Fatalf("stop %s: %v", old.name, err)
	}
	stopped := time.Now()
	if _, err := next.pg.Promote(ctx); err != nil {
		t.Fatalf("promote %s: %v", next.name, err)
	}
	t.Logf("switchover: %s stopped in %v, %s promoted in %v", old.name, stopped.Sub(start).Round(time.Millisecond),
		next.name, time.Since(stopped).Round(time.Millisecond))
	c.primary, c.replica = next, old
	promoted(next)
	c.attachReplica(ctx, t, false)
}

// backend connects through an HAProxy port and reports which PostgreSQL
// server answered: its port and whether it is in recovery.
func backend(port int) (serverPort int, inRecovery bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(fmt.Sprintf(
		"host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres sslmode=disable connect_timeout=2",
		port, e2eSuperPassword))
	if err != nil {
		return 0, false, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	err = conn.QueryRow(ctx, "SELECT current_setting('port')::int, pg_is_in_recovery()").Scan(&serverPort, &inRecovery)
	return serverPort, inRecovery, err
}

// routesTo succeeds when e2eConsecutive connections in a row through port
// land on n, which is in recovery or not as recovery says.
func routesTo(port int, n *e2eNode, recovery bool) func() error {
	return func() error {
		for range e2eConsecutive {
			got, inRecovery, err := backend(port)
			if err != nil {
				return fmt.Errorf("port %d: %w", port, err)
			}
			if got != n.pg.Port() || inRecovery != recovery {
				return fmt.Errorf("port %d reached the server on port %d (pg_is_in_recovery %v), want %s on port %d (pg_is_in_recovery %v)",
					port, got, inRecovery, n.name, n.pg.Port(), recovery)
			}
		}
		return nil
	}
}

// e2eConsecutive is how many connections in a row must reach the right
// server: with both servers up HAProxy balances round-robin, so a wrong one
// would show up in the second connection at the latest.
const e2eConsecutive = 4

// startHAProxy writes cfg to dir/haproxy.cfg and runs HAProxy on it in
// master-worker mode until the test ends. cfg must declare the runtime API
// socket dir/admin.sock, on which Process waits for the worker.
func startHAProxy(t *testing.T, dir string, cfg []byte) {
	t.Helper()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := haproxycfg.WriteFileAtomic(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := haproxycfg.NewProcess(haproxycfg.ProcessConfig{
		Bin: testutil.HAProxyBin(t), ConfigPath: path, StatsSocket: filepath.Join(dir, "admin.sock"),
		Logger: e2eLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := proc.Validate(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := proc.Stop(ctx); err != nil {
			t.Errorf("stop haproxy: %v", err)
		}
	})
}

// socketDir returns a fresh directory with a short path (unix socket paths
// are limited to 107 bytes), removed when the test ends.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hae2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
