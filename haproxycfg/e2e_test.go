package haproxycfg_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/haproxycfg"
	"github.com/pgha/pgha/internal/testutil"
)

// Deadlines for routing to settle. They are failure bounds, not speed
// goals: the figures are logged.
const (
	e2eRouteTimeout = 20 * time.Second
	e2eRoutePoll    = 50 * time.Millisecond
)

// TestE2ERenderedConfigFollowsRoleSwap runs a real primary and replica, each
// with pgha's health API, behind a real HAProxy running Render's
// configuration: the read-write port reaches the primary and the read-only
// port the replica, and after a switchover HAProxy follows the new roles.
func TestE2ERenderedConfigFollowsRoleSwap(t *testing.T) {
	c := startE2ECluster(t)
	ports := testutil.FreePorts(t, 2)
	rw, ro := ports[0], ports[1]
	dir := socketDir(t)

	opts := haproxycfg.DefaultOptions()
	opts.BindAddress = "127.0.0.1"
	opts.ReadWritePort, opts.ReadOnlyPort, opts.StatsPort = rw, ro, 0
	opts.StatsSocket = filepath.Join(dir, "admin.sock")
	opts.ConnectTimeout = 2 * time.Second
	cfg, err := haproxycfg.Render([]haproxycfg.Server{c.primary.server(), c.replica.server()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	startHAProxy(t, dir, cfg)

	waitRoles(t, c, rw, ro, "before the switchover")

	// Two figures per listener: when HAProxy's own view (runtime API) has
	// only the right server up, and when a client connection lands there.
	// The second can be later: a connection HAProxy sent to the stopped old
	// primary before marking it down is retried on that server ("retries
	// 2", one second apart) and fails.
	var promoted time.Time
	c.switchover(t, func(p *e2eNode) {
		promoted = time.Now()
		testutil.Eventually(t, e2eRouteTimeout, upServers(opts.StatsSocket, haproxycfg.ProxyPrimary, p.name),
			"read-write listener has only %s up", p.name)
		t.Logf("read-write listener had only new primary %s up %v after its promotion", p.name, time.Since(promoted).Round(time.Millisecond))
		testutil.EventuallyEvery(t, e2eRouteTimeout, e2eRoutePoll, routesTo(rw, p, false),
			"read-write port on new primary %s", p.name)
		t.Logf("read-write port reached new primary %s %v after its promotion", p.name, time.Since(promoted).Round(time.Millisecond))
	})
	rejoined := time.Now()
	testutil.Eventually(t, e2eRouteTimeout, upServers(opts.StatsSocket, haproxycfg.ProxyReplicas, c.replica.name),
		"read-only listener has only %s up", c.replica.name)
	t.Logf("read-only listener had only new replica %s up %v after it streamed again (%v after the promotion)",
		c.replica.name, time.Since(rejoined).Round(time.Millisecond), time.Since(promoted).Round(time.Millisecond))
	testutil.EventuallyEvery(t, e2eRouteTimeout, e2eRoutePoll, routesTo(ro, c.replica, true),
		"read-only port on new replica %s", c.replica.name)
	t.Logf("read-only port reached new replica %s %v after it streamed again (%v after the promotion)",
		c.replica.name, time.Since(rejoined).Round(time.Millisecond), time.Since(promoted).Round(time.Millisecond))

	waitRoles(t, c, rw, ro, "after the switchover")
}

// TestE2EPatroniGuideConfig checks that the HAProxy configuration Patroni's
// guides and confd template give their users (option httpchk <method>
// /primary and /replica, http-check expect status 200, check port <api>)
// routes correctly against pgha's health handlers, before and after a
// switchover, with each check method those configurations use.
func TestE2EPatroniGuideConfig(t *testing.T) {
	c := startE2ECluster(t)
	type proxy struct {
		method string
		rw, ro int
	}
	var proxies []proxy
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		ports := testutil.FreePorts(t, 2)
		dir := socketDir(t)
		p := proxy{method: method, rw: ports[0], ro: ports[1]}
		startHAProxy(t, dir, guideConfig(filepath.Join(dir, "admin.sock"), method, p.rw, p.ro, c.primary, c.replica))
		proxies = append(proxies, p)
	}

	for _, phase := range []string{"before the switchover", "after the switchover"} {
		if phase == "after the switchover" {
			c.switchover(t, func(*e2eNode) {})
		}
		for _, p := range proxies {
			t.Run(strings.ReplaceAll(phase, " ", "_")+"/"+p.method, func(t *testing.T) {
				waitRoles(t, c, p.rw, p.ro, phase)
			})
		}
	}
}

// waitRoles waits until the read-write port reaches c.primary (not in
// recovery) and the read-only port c.replica (in recovery).
func waitRoles(t *testing.T, c *e2eCluster, rw, ro int, when string) {
	t.Helper()
	testutil.EventuallyEvery(t, e2eRouteTimeout, e2eRoutePoll, routesTo(rw, c.primary, false),
		"read-write port on primary %s %s", c.primary.name, when)
	testutil.EventuallyEvery(t, e2eRouteTimeout, e2eRoutePoll, routesTo(ro, c.replica, true),
		"read-only port on replica %s %s", c.replica.name, when)
}

// upServers succeeds when the servers HAProxy reports up in backend are
// exactly want.
func upServers(socket, backend string, want ...string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		states, err := haproxycfg.ServerStates(ctx, socket)
		if err != nil {
			return err
		}
		var up []string
		for _, s := range states {
			if s.Backend == backend && s.Up {
				up = append(up, s.Server)
			}
		}
		slices.Sort(up)
		if !slices.Equal(up, want) {
			return fmt.Errorf("%s: servers up %v, want %v", backend, up, want)
		}
		return nil
	}
}

// guideConfig writes the haproxy.cfg of Patroni's guides (haproxy.cfg in
// Patroni's repository, and its confd template) for the given nodes, as
// users run it: only the bind addresses, the check method and the check
// interval differ. inter is 300ms instead of 3s so the test is quick, and
// the runtime API socket, which Process waits on, is added; the stats page
// is left out.
func guideConfig(socket, method string, rw, ro int, nodes ...*e2eNode) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 100
    stats socket %s mode 600 level admin

defaults
    log global
    mode tcp
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 5s
`, socket)
	for _, l := range []struct {
		name, check string
		port        int
	}{{"primary", "/primary", rw}, {"replicas", "/replica", ro}} {
		fmt.Fprintf(&b, `
listen %s
    bind 127.0.0.1:%d
    option httpchk %s %s
    http-check expect status 200
    default-server inter 300ms fall 3 rise 2 on-marked-down shutdown-sessions
`, l.name, l.port, method, l.check)
		for _, n := range nodes {
			fmt.Fprintf(&b, "    server %s 127.0.0.1:%d maxconn 100 check port %d\n", n.name, n.pg.Port(), n.apiPort)
		}
	}
	return []byte(b.String())
}
