package haproxycfg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/internal/testutil"
)

// fakeNode is a member's network face (testutil.FakeNode).
type fakeNode = testutil.FakeNode

// startNode starts a fakeNode on free loopback ports.
func startNode(t *testing.T, name, role string) *fakeNode {
	t.Helper()
	ports := testutil.FreePorts(t, 2)
	return testutil.StartFakeNode(t, name, role, "127.0.0.1", ports[0], ports[1], nil)
}

// whoami connects to an HAProxy port and returns the greeting of the node
// it was routed to.
func whoami(port int) (string, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no backend answered: %w", err)
	}
	return l[:len(l)-1], nil
}

// routesTo succeeds when n consecutive connections land on one of want.
func routesTo(port, n int, want ...string) func() error {
	return func() error {
		for range n {
			got, err := whoami(port)
			if err != nil {
				return err
			}
			if !slices.Contains(want, got) {
				return fmt.Errorf("port %d routed to %s, want %v", port, got, want)
			}
		}
		return nil
	}
}

type syncEnv struct {
	store  *memory.Store
	proc   *Process
	syncer *Syncer
	opts   Options
}

func startSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	bin := haproxyBin(t)
	dir := shortDir(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	mc := memory.NewCluster(memory.ClusterOptions{Logger: log})
	t.Cleanup(func() { _ = mc.Close() })
	store := mc.Store(dcs.Prefix("", "hatest"), memory.StoreOptions{})

	ports := testutil.FreePorts(t, 3)
	opts := DefaultOptions()
	opts.BindAddress = "127.0.0.1"
	opts.ReadWritePort, opts.ReadOnlyPort, opts.SyncPort, opts.StatsPort = ports[0], ports[1], ports[2], 0
	opts.StatsSocket = filepath.Join(dir, "admin.sock")
	opts.ServerStateFile = filepath.Join(dir, "state")
	opts.ReadOnlyIncludePrimary = true
	opts.ClientTimeout, opts.ServerTimeout = time.Minute, time.Minute

	cfgPath := filepath.Join(dir, "haproxy.cfg")
	initial, err := Render(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(cfgPath, initial, 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := NewProcess(ProcessConfig{
		Bin: bin, ConfigPath: cfgPath, StatsSocket: opts.StatsSocket,
		ServerStateFile: opts.ServerStateFile, PIDFile: filepath.Join(dir, "haproxy.pid"), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
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

	syncer, err := NewSyncer(store, SyncerOptions{Render: opts, ConfigPath: cfgPath, Reloader: proc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- syncer.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	return &syncEnv{store: store, proc: proc, syncer: syncer, opts: opts}
}

func (e *syncEnv) put(t *testing.T, m *dcs.Member) int64 {
	t.Helper()
	rev, err := e.store.Put(context.Background(), dcs.MemberKey(m.Name), m.Encode(), 0, dcs.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// servers returns the server names of one backend as HAProxy runs it.
func (e *syncEnv) servers(backend string) ([]string, error) {
	states, err := ServerStates(context.Background(), e.opts.StatsSocket)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range states {
		if s.Backend == backend {
			names = append(names, s.Server)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (e *syncEnv) waitServers(t *testing.T, backend string, want ...string) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		got, err := e.servers(backend)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("backend %s has %v, want %v (syncer: %+v)", backend, got, want, e.syncer.Status())
		}
		return nil
	}, "HAProxy backend %s servers", backend)
}

func TestSyncerFollowsClusterAndRoles(t *testing.T) {
	env := startSyncEnv(t)
	n1 := startNode(t, "pg1", "primary")
	n2 := startNode(t, "pg2", "sync")
	env.put(t, n1.Member())
	env.put(t, n2.Member())

	env.waitServers(t, ProxyPrimary, "pg1", "pg2")
	rw, ro, sy := env.opts.ReadWritePort, env.opts.ReadOnlyPort, env.opts.SyncPort
	testutil.Eventually(t, 10*time.Second, routesTo(rw, 5, "pg1"), "read-write port reaches the primary")
	testutil.Eventually(t, 10*time.Second, routesTo(ro, 5, "pg2"), "read-only port reaches the replica")
	testutil.Eventually(t, 10*time.Second, routesTo(sy, 5, "pg2"), "sync port reaches the sync standby")

	// Swap roles: HAProxy follows by health checks alone, no reload.
	reloads := env.syncer.Status().Reloads
	start := time.Now()
	n1.SetRole("replica")
	n2.SetRole("primary")
	testutil.Eventually(t, 10*time.Second, routesTo(rw, 5, "pg2"), "read-write port follows the new primary")
	t.Logf("read-write routing followed the role change after %v", time.Since(start))
	testutil.Eventually(t, 10*time.Second, routesTo(ro, 5, "pg1"), "read-only port follows the new replica")

	// With no replica up, reads go to the primary (backup server).
	n1.SetRole("stopped")
	testutil.Eventually(t, 10*time.Second, routesTo(ro, 3, "pg2"), "read-only port falls back to the primary")
	n1.SetRole("replica")
	testutil.Eventually(t, 10*time.Second, routesTo(ro, 3, "pg1"), "read-only port returns to the replica")

	// Member values changing without membership changes (LSN updates) do
	// not reload.
	m := n1.Member()
	lsn := int64(12345)
	m.XLogLocation = &lsn
	rev := env.put(t, m)
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := env.syncer.Status(); st.Revision < rev {
			return fmt.Errorf("syncer at revision %d, want %d", st.Revision, rev)
		}
		return nil
	}, "syncer sees the update")
	if got := env.syncer.Status().Reloads; got != reloads {
		t.Fatalf("reloads went from %d to %d without a membership change", reloads, got)
	}

	// A hostile member is left out and reported; the others keep working.
	bad := &dcs.Member{Name: "evil", ConnURL: "postgres://a%0Abind:1/x", APIURL: "http://127.0.0.1:1"}
	rev = env.put(t, bad)
	testutil.Eventually(t, 10*time.Second, func() error {
		st := env.syncer.Status()
		if st.Revision < rev || st.Skipped == nil {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	}, "syncer reports the skipped member")
	if got := env.syncer.Status().Reloads; got != reloads {
		t.Fatalf("a skipped member caused a reload")
	}
}

func TestSyncerMembershipAndEstablishedConnections(t *testing.T) {
	env := startSyncEnv(t)
	n1 := startNode(t, "pg1", "primary")
	n2 := startNode(t, "pg2", "replica")
	env.put(t, n1.Member())
	env.put(t, n2.Member())
	rw, ro := env.opts.ReadWritePort, env.opts.ReadOnlyPort
	testutil.Eventually(t, 15*time.Second, routesTo(rw, 5, "pg1"), "read-write port reaches the primary")

	// An established session to the primary.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(rw), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r := bufio.NewReader(conn)
	echo := func(msg string) error {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintf(conn, "%s\n", msg); err != nil {
			return err
		}
		l, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if l != msg+"\n" {
			return fmt.Errorf("echo %q, want %q", l, msg)
		}
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if hello, err := r.ReadString('\n'); err != nil || hello != "pg1\n" {
		t.Fatalf("session greeting %q, %v", hello, err)
	}
	if err := echo("before"); err != nil {
		t.Fatal(err)
	}

	// A new member joins: HAProxy is reloaded and gets it.
	oldWorker, err := env.proc.WorkerPID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n3 := startNode(t, "pg3", "replica")
	env.put(t, n3.Member())
	env.waitServers(t, ProxyPrimary, "pg1", "pg2", "pg3")
	env.waitServers(t, ProxyReplicas, "pg1", "pg1:primary", "pg2", "pg2:primary", "pg3", "pg3:primary")
	newWorker, err := env.proc.WorkerPID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if newWorker == oldWorker {
		t.Fatalf("no new worker after the membership change")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		got, err := whoami(ro)
		if err != nil || got != "pg3" {
			return fmt.Errorf("got %q, %v", got, err)
		}
		return nil
	}, "read-only port reaches the new replica")

	// The session opened before the reload still works.
	if err := echo("after reload"); err != nil {
		t.Fatalf("established session to the primary broke across the reload: %v", err)
	}
	// And the primary kept its state across the reload: no connection
	// goes to a replica.
	if err := routesTo(rw, 10, "pg1")(); err != nil {
		t.Fatalf("after reload: %v", err)
	}

	// A member leaves.
	if err := env.store.Delete(context.Background(), dcs.MemberKey("pg2"), dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	env.waitServers(t, ProxyPrimary, "pg1", "pg3")
	testutil.Eventually(t, 10*time.Second, routesTo(ro, 5, "pg3"), "read-only port without the departed member")
	if err := echo("after second reload"); err != nil {
		t.Fatalf("established session broke across the second reload: %v", err)
	}
}
