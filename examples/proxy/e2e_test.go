package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// startFakeNode starts a fakeNode (testutil.StartFakeNode).
var startFakeNode = testutil.StartFakeNode

// whoami connects to addr and returns the greeting of the node reached.
func whoami(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no backend answered: %w", err)
	}
	return strings.TrimSpace(l), nil
}

func routesTo(addr string, n int, want string) func() error {
	return func() error {
		for range n {
			got, err := whoami(addr)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s routed to %s, want %s", addr, got, want)
			}
		}
		return nil
	}
}

// TestProxyEndToEnd runs pgha-proxy's run function from a YAML file against
// a real HAProxy and an embedded etcd with the guides' check settings: it
// renders and starts HAProxy, follows the members, routes writes to the
// leader and follows a leader change through the runtime API (well before
// checks with inter 3s rise 2 could), writes keepalived.conf with the
// serving check, and check-haproxy passes while HAProxy serves and fails
// once pgha-proxy has stopped it.
func TestProxyEndToEnd(t *testing.T) {
	testutil.HAProxyBin(t)
	// The same YAML as the agent's: pgha-proxy reads the DCS section with
	// agentconfig, etcd3 or consul.
	t.Run("etcd3", func(t *testing.T) {
		ec := testutil.StartEtcd(t, 1)
		testProxyEndToEnd(t, "etcd3:\n  hosts: "+strings.TrimPrefix(ec.Endpoint(0), "http://"), func(log *slog.Logger) (dcs.Store, error) {
			return etcd.New(etcd.Config{Endpoints: []string{ec.Endpoint(0)}, Scope: "e2e", RequestTimeout: 2 * time.Second, Logger: log})
		})
	})
	t.Run("consul", func(t *testing.T) {
		a := testutil.StartConsul(t, true)
		testProxyEndToEnd(t, "consul:\n  host: "+a.Addr(), func(*slog.Logger) (dcs.Store, error) {
			return consul.New(consul.Config{Address: a.Addr(), Scope: "e2e"})
		})
	})
}

// testProxyEndToEnd runs pgha-proxy with dcsSection as its DCS and moves
// the leader key with a store from newWriter.
func testProxyEndToEnd(t *testing.T, dcsSection string, newWriter func(*slog.Logger) (dcs.Store, error)) {
	dir, err := os.MkdirTemp("", "pghaproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports := testutil.FreePorts(t, 7)
	rw := "127.0.0.1:" + strconv.Itoa(ports[0])
	socket := filepath.Join(dir, "admin.sock")
	yml := fmt.Sprintf(`scope: e2e
namespace: /service/
log:
  level: WARNING
%s
haproxy:
  config: %s/haproxy.cfg
  socket: %s
  server_state_file: %s/state
  bind_address: 127.0.0.1
  ports: {primary: %d, replicas: %d, stats: %d}
  replicas_include_primary: true
  check: {inter: 3s, fastinter: 3s, downinter: 3s, rise: 2, fall: 3}
  keepalived:
    config: %s/keepalived.conf
    interface: eth0
    virtual_router_id: 51
    priority: 101
    virtual_ips: [10.99.0.100/24]
    unicast_src_ip: 10.99.0.1
    unicast_peers: [10.99.0.2]
    auth_pass: s3cret
    notify: /usr/local/bin/vrrp-notify
`, dcsSection, dir, socket, dir, ports[0], ports[1], ports[2], dir)
	path := filepath.Join(dir, "pgha.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, nil, self)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runProxy(ctx, cfg, log) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runProxy: %v", err)
		}
	}
	t.Cleanup(stop)

	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	n1 := startFakeNode(t, "pg1", "primary", "127.0.0.1", ports[3], ports[4], listen)
	n2 := startFakeNode(t, "pg2", "replica", "127.0.0.1", ports[5], ports[6], listen)
	writer, err := newWriter(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	put := func(key string, val []byte) {
		t.Helper()
		if _, err := writer.Put(context.Background(), key, val, 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	put(dcs.MemberKey("pg1"), n1.Member().Encode())
	put(dcs.MemberKey("pg2"), n2.Member().Encode())
	put(dcs.KeyLeader, []byte("pg1"))
	testutil.Eventually(t, 20*time.Second, routesTo(rw, 5, "pg1"), "read-write port on the leader pg1")

	check := func() int {
		code, _, _ := runArgs("check-haproxy", "-socket", socket, "-connect", rw)
		return code
	}
	if code := check(); code != exitOK {
		t.Fatalf("check-haproxy while serving: exit %d", code)
	}
	ka, err := os.ReadFile(filepath.Join(dir, "keepalived.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"script \"" + self + " check-haproxy -socket " + socket + " -connect " + rw + "\"",
		"weight 50", "unicast_peer {\n        10.99.0.2\n    }", "auth_pass s3cret", "notify \"/usr/local/bin/vrrp-notify\"",
	} {
		if !strings.Contains(string(ka), want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, ka)
		}
	}

	n1.SetRole("replica")
	n2.SetRole("primary")
	moved := time.Now()
	put(dcs.KeyLeader, []byte("pg2"))
	testutil.EventuallyEvery(t, 10*time.Second, 10*time.Millisecond, routesTo(rw, 3, "pg2"), "read-write port on the new leader pg2")
	t.Logf("read-write port on the new leader %v after the leader key moved (checks inter 3s rise 2)", time.Since(moved).Round(time.Millisecond))

	stop()
	if code := check(); code != exitFailure {
		t.Fatalf("check-haproxy after pgha-proxy stopped HAProxy: exit %d", code)
	}
	if _, err := whoami(rw); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("read-write port still answers after stop: %v", err)
	}
}
