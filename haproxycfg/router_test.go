package haproxycfg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// routerEnv is a real HAProxy run by a Syncer with a Router, fed by an
// embedded etcd. The proxy's own DCS connection goes through a fault proxy
// (dcsLink); the test writes through writer, which bypasses it.
type routerEnv struct {
	*syncEnv
	router  *Router
	writer  dcs.Store
	dcsLink *testutil.Proxy
}

// guideChecks are the check settings of the Patroni guides (inter 3s fall
// 3 rise 2): without the Router, HAProxy takes seconds to follow a leader
// change, so a routing change within the test's deadlines is the Router's.
func guideChecks(o *Options) {
	o.CheckInterval, o.FastInterval, o.DownInterval = 3*time.Second, 3*time.Second, 3*time.Second
	o.Rise, o.Fall = 2, 3
}

func startRouterEnv(t *testing.T, tune func(*Options)) *routerEnv {
	t.Helper()
	bin := haproxyBin(t)
	dir := shortDir(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	ec := testutil.StartEtcd(t, 1)
	link := testutil.NewProxy(t, strings.TrimPrefix(ec.Endpoint(0), "http://"))
	newStore := func(ep string) dcs.Store {
		s, err := etcd.New(etcd.Config{Endpoints: []string{ep}, Scope: "routertest", RequestTimeout: time.Second, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	store, writer := newStore(link.URL()), newStore(ec.Endpoint(0))

	ports := testutil.FreePorts(t, 2)
	opts := DefaultOptions()
	opts.BindAddress = "127.0.0.1"
	opts.ReadWritePort, opts.ReadOnlyPort, opts.StatsPort = ports[0], ports[1], 0
	opts.StatsSocket = filepath.Join(dir, "admin.sock")
	opts.ServerStateFile = filepath.Join(dir, "state")
	opts.ReadOnlyIncludePrimary = true
	opts.RuntimeRouting = true
	opts.ClientTimeout, opts.ServerTimeout = time.Minute, time.Minute
	if tune != nil {
		tune(&opts)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	initial, err := Render(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(cfgPath, initial, 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := NewProcess(ProcessConfig{Bin: bin, ConfigPath: cfgPath, StatsSocket: opts.StatsSocket,
		ServerStateFile: opts.ServerStateFile, Logger: log})
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
	router, err := NewRouter(RouterOptions{StatsSocket: opts.StatsSocket, ReconcileInterval: 200 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	syncer, err := NewSyncer(store, SyncerOptions{Render: opts, ConfigPath: cfgPath, Reloader: proc, Router: router, Logger: log})
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
	env := &syncEnv{proc: proc, syncer: syncer, opts: opts}
	return &routerEnv{syncEnv: env, router: router, writer: writer, dcsLink: link}
}

func (e *routerEnv) putMember(t *testing.T, n *fakeNode) {
	t.Helper()
	if _, err := e.writer.Put(context.Background(), dcs.MemberKey(n.Name), n.Member().Encode(), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
}

func (e *routerEnv) setLeader(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	var err error
	if name == "" {
		err = e.writer.Delete(ctx, dcs.KeyLeader, dcs.Cond{})
	} else {
		_, err = e.writer.Put(ctx, dcs.KeyLeader, []byte(name), 0, dcs.Cond{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// adminMaint reports whether backend/server is in forced maintenance.
func (e *routerEnv) adminMaint(backend, server string) (bool, error) {
	states, err := ServerStates(context.Background(), e.opts.StatsSocket)
	if err != nil {
		return false, err
	}
	for _, s := range states {
		if s.Backend == backend && s.Server == server {
			return s.AdminState&adminForcedMaint != 0, nil
		}
	}
	return false, fmt.Errorf("no server %s/%s", backend, server)
}

// enabledOnly succeeds when only want (none for "") is out of maintenance
// in the read-write backend.
func (e *routerEnv) enabledOnly(want string, names ...string) func() error {
	return func() error {
		for _, n := range names {
			maint, err := e.adminMaint(ProxyPrimary, n)
			if err != nil {
				return err
			}
			if maint == (n == want) {
				return fmt.Errorf("%s/%s maintenance=%v (want only %q enabled; router %+v)", ProxyPrimary, n, maint, want, e.router.Status())
			}
		}
		return nil
	}
}

// session is an established client connection through HAProxy.
type session struct {
	c    net.Conn
	r    *bufio.Reader
	node string
}

func openSession(t *testing.T, port int) *session {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := &session{c: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	l, err := s.r.ReadString('\n')
	if err != nil {
		t.Fatalf("session greeting: %v", err)
	}
	s.node = strings.TrimSpace(l)
	return s
}

// echo sends a line and expects it back.
func (s *session) echo(msg string) error {
	_ = s.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(s.c, "%s\n", msg); err != nil {
		return err
	}
	l, err := s.r.ReadString('\n')
	if err != nil {
		return err
	}
	if l != msg+"\n" {
		return fmt.Errorf("echo %q, want %q", l, msg)
	}
	return nil
}

// closed succeeds once the peer has closed the session.
func (s *session) closed() error {
	_ = s.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := s.r.ReadByte()
	if errors.Is(err, io.EOF) || (err != nil && !isTimeout(err)) {
		return nil
	}
	return fmt.Errorf("session to %s still open (%v)", s.node, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestRouterFollowsLeaderKey: with the guides' slow checks, the read-write
// listener follows the DCS leader key through the runtime API, cuts the old
// primary's sessions, never enables a member the DCS does not name, puts
// everything into maintenance without a leader.
func TestRouterFollowsLeaderKey(t *testing.T) {
	env := startRouterEnv(t, guideChecks)
	n1 := startNode(t, "pg1", "primary")
	n2 := startNode(t, "pg2", "replica")
	rw := env.opts.ReadWritePort

	// Members without a leader key: nothing is enabled.
	env.putMember(t, n1)
	env.putMember(t, n2)
	env.waitServers(t, ProxyPrimary, "pg1", "pg2")
	testutil.Eventually(t, 10*time.Second, func() error {
		if !env.router.Status().Known {
			return errors.New("router has not read the DCS")
		}
		return env.enabledOnly("", "pg1", "pg2")()
	}, "no server enabled without a leader key")
	if got, err := whoami(rw); err == nil {
		t.Fatalf("read-write port routed to %s without a leader", got)
	}

	env.setLeader(t, "pg1")
	testutil.Eventually(t, 10*time.Second, routesTo(rw, 5, "pg1"), "read-write port on the leader")
	old := openSession(t, rw)
	if old.node != "pg1" {
		t.Fatalf("session on %s", old.node)
	}

	// The leader's /primary stops agreeing while the DCS still names it
	// (a primary stopping for a switchover): it is drained at once, not
	// after HAProxy's slow checks; its established session stays.
	n1.SetRole("stopped")
	testutil.Eventually(t, 5*time.Second, func() error {
		if env.router.Status().Drains == 0 {
			return errors.New("leader not drained")
		}
		if got, err := whoami(rw); err == nil {
			return fmt.Errorf("new connection routed to %s while the leader is drained", got)
		}
		return nil
	}, "leader drained when its /primary fails")
	if err := old.echo("while drained"); err != nil {
		t.Fatalf("session cut by the drain: %v", err)
	}
	n1.SetRole("primary")
	testutil.Eventually(t, 5*time.Second, routesTo(rw, 3, "pg1"), "leader enabled again once /primary agrees")

	// Both answer 200 on /primary (a stale primary): writes still go only
	// to the member the DCS names.
	n2.SetRole("primary")
	base := env.router.Status().Reconciles
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := env.router.Status().Reconciles; n < base+3 {
			return fmt.Errorf("%d reconciliations since pg2 answers 200", n-base)
		}
		return nil
	}, "router reconciled with pg2 answering 200 on /primary")
	if err := routesTo(rw, 10, "pg1")(); err != nil {
		t.Fatalf("a member the DCS does not name got writes: %v", err)
	}
	if err := env.enabledOnly("pg1", "pg1", "pg2")(); err != nil {
		t.Fatal(err)
	}

	// A switchover request (the failover key) drains the leader at once,
	// keeping its sessions; withdrawn, the leader is enabled again.
	drains := env.router.Status().Drains
	sw := &dcs.Failover{Leader: "pg1", Member: "pg2"}
	if _, err := env.writer.Put(context.Background(), dcs.KeyFailover, sw.Encode(), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if env.router.Status().Drains == drains {
			return errors.New("leader not drained")
		}
		if got, err := whoami(rw); err == nil {
			return fmt.Errorf("new connection routed to %s during the handover", got)
		}
		return nil
	}, "leader drained by the switchover request")
	if err := old.echo("during the handover"); err != nil {
		t.Fatalf("session cut by the handover drain: %v", err)
	}
	if err := env.writer.Delete(context.Background(), dcs.KeyFailover, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, routesTo(rw, 3, "pg1"), "leader enabled again once the request is withdrawn")

	// The leader key moves: the old primary leaves at once and its session
	// is cut, the new one enters without waiting for rise checks.
	n1.SetRole("replica")
	moved := time.Now()
	env.setLeader(t, "pg2")
	testutil.EventuallyEvery(t, 10*time.Second, 10*time.Millisecond, routesTo(rw, 3, "pg2"), "read-write port on the new leader")
	t.Logf("read-write port on the new leader %v after the leader key moved (checks: inter %v rise %d)",
		time.Since(moved).Round(time.Millisecond), env.opts.CheckInterval, env.opts.Rise)
	testutil.Eventually(t, 5*time.Second, old.closed, "old primary's session cut")
	if err := env.enabledOnly("pg2", "pg1", "pg2")(); err != nil {
		t.Fatal(err)
	}

	// No leader: nothing routed.
	env.setLeader(t, "")
	testutil.Eventually(t, 10*time.Second, env.enabledOnly("", "pg1", "pg2"), "no server without a leader")
	env.setLeader(t, "pg2")
	testutil.Eventually(t, 10*time.Second, routesTo(rw, 3, "pg2"), "read-write port back on pg2")

}

// TestRouterCutOffFromDCS: a proxy that loses the DCS keeps its last
// verdict. The leader key moves and the old leader steps down, but this
// proxy cannot know: it never enables the new leader, and the old one goes
// down by its checks, so writes stop rather than go to two primaries. Once
// the DCS is back it follows again. (HAProxy's fast default checks keep
// the test short.)
func TestRouterCutOffFromDCS(t *testing.T) {
	env := startRouterEnv(t, nil)
	n1 := startNode(t, "pg1", "replica")
	n2 := startNode(t, "pg2", "primary")
	rw := env.opts.ReadWritePort
	env.putMember(t, n1)
	env.putMember(t, n2)
	env.setLeader(t, "pg2")
	testutil.Eventually(t, 10*time.Second, routesTo(rw, 3, "pg2"), "read-write port on pg2")

	env.dcsLink.Blackhole()
	env.dcsLink.CutConnections()
	n2.SetRole("replica")
	n1.SetRole("primary")
	env.setLeader(t, "pg1")
	testutil.Eventually(t, 30*time.Second, func() error {
		if got, err := whoami(rw); err == nil {
			return fmt.Errorf("still routed to %s", got)
		}
		return nil
	}, "read-write port closed once pg2's checks fail")
	if err := env.enabledOnly("pg2", "pg1", "pg2")(); err != nil {
		t.Fatalf("cut off from the DCS: %v", err)
	}
	// Reconnected: it follows the DCS again.
	// Heal: connections accepted while blackholed stay dead, reset them so
	// the client reconnects at once instead of after its keepalive timeout.
	env.dcsLink.Pass()
	env.dcsLink.CutConnections()
	testutil.Eventually(t, 30*time.Second, routesTo(rw, 3, "pg1"), "read-write port on pg1 after the DCS is back")
	if err := env.enabledOnly("pg1", "pg1", "pg2")(); err != nil {
		t.Fatal(err)
	}
}

func TestRuntimeRoutingRenderAndOptions(t *testing.T) {
	opts := DefaultOptions()
	opts.ReadOnlyIncludePrimary = true
	opts.RuntimeRouting = true
	if _, err := Render(nil, opts); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("RuntimeRouting without StatsSocket: %v", err)
	}
	opts.StatsSocket = "/run/pgha/admin.sock"
	servers := []Server{{Name: "pg1", Host: "10.0.0.1", Port: 5432, CheckPort: 8008}}
	cfg, err := Render(servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	var disabled []string
	for _, l := range strings.Split(string(cfg), "\n") {
		if strings.HasSuffix(l, " disabled") {
			disabled = append(disabled, strings.TrimSpace(l))
		}
	}
	want := "server pg1 10.0.0.1:5432 check port 8008 disabled"
	if len(disabled) != 1 || disabled[0] != want {
		t.Fatalf("disabled servers %q, want only %q in:\n%s", disabled, want, cfg)
	}
	// A server new to the running worker keeps its maintenance bits in the
	// state file written before a reload.
	state := newServersDown(string(cfg), nil)
	if !strings.Contains(state, "0 primary 0 pg1 10.0.0.1 0 5 ") || !strings.Contains(state, "0 replicas 0 pg1 10.0.0.1 0 0 ") {
		t.Fatalf("state lines:\n%s", state)
	}

	bad := []RouterOptions{
		{},
		{StatsSocket: "relative.sock"},
		{StatsSocket: "/run/a.sock", Backend: "primary\nbind"},
		{StatsSocket: "/run/a.sock", CheckCAFile: "/nonexistent/ca.pem"},
		{StatsSocket: "/run/a.sock", CheckCAFile: "/etc/hostname", CheckInsecureSkipVerify: true},
	}
	for _, o := range bad {
		if _, err := NewRouter(o); err == nil {
			t.Errorf("NewRouter(%+v) accepted", o)
		}
	}
}

func TestHandingOver(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Minute)
	tests := []struct {
		name   string
		f      *dcs.Failover
		leader string
		want   bool
	}{
		{"no key", nil, "pg1", false},
		{"cleared key", &dcs.Failover{}, "pg1", false},
		{"switchover from the leader", &dcs.Failover{Leader: "pg1", Member: "pg2"}, "pg1", true},
		{"switchover to any", &dcs.Failover{Leader: "pg1"}, "pg1", true},
		{"switchover from another member", &dcs.Failover{Leader: "pg3", Member: "pg2"}, "pg1", false},
		{"failover to another member", &dcs.Failover{Member: "pg2"}, "pg1", true},
		{"failover to the leader itself", &dcs.Failover{Member: "pg1"}, "pg1", false},
		{"scheduled later", &dcs.Failover{Leader: "pg1", Member: "pg2", ScheduledAt: &later}, "pg1", false},
		{"scheduled and due", &dcs.Failover{Leader: "pg1", Member: "pg2", ScheduledAt: &earlier}, "pg1", true},
		{"no leader", &dcs.Failover{Member: "pg2"}, "", false},
	}
	for _, tt := range tests {
		if got := HandingOver(tt.f, tt.leader, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseServersStateAdmin(t *testing.T) {
	out := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...\n" +
		"2 primary 1 a 127.0.0.1 2 0 1 1 0 6 3 4 6 0 0 0 - 1 - 0 0 - - 0\n" +
		"2 primary 2 b 127.0.0.1 0 5 1 1 0 6 3 4 6 0 0 0 - 1 - 0 0 - - 0\n" +
		"2 primary 3 c 127.0.0.1 2 4 1 1 0 6 3 4 6 0 0 0 - 1 - 0 0 - - 0\n" +
		"2 primary 4 d 127.0.0.1 2 12 1 1 0 6 3 4 6 0 0 0 - 1 - 0 0 - - 0\n" +
		"3 replicas 5 d:primary 127.0.0.1 0 2 1 1 0 6 3 4 6 0 0 0 - 1 - 0 0 - - 0\n"
	states, err := parseServersState(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		up, maint, drain bool
		admin            int
	}{{true, false, false, 0}, {false, true, false, 5}, {true, false, false, 4}, {true, false, true, 12}, {false, true, false, 2}}
	if len(states) != len(want) {
		t.Fatalf("%d states", len(states))
	}
	for i, w := range want {
		s := states[i]
		if s.Up != w.up || s.Maint != w.maint || s.Drain != w.drain || s.AdminState != w.admin {
			t.Errorf("%s/%s: %+v, want %+v", s.Backend, s.Server, s, w)
		}
	}
	if _, err := parseServersState("1\n2 primary 1 a 127.0.0.1 2 x 1\n"); err == nil {
		t.Error("non-numeric admin state accepted")
	}
}
