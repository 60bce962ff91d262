package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// TestProxyManagesKeepalived: with haproxy.keepalived.manage pgha-proxy
// writes keepalived.conf, runs Debian's keepalived (here under "ip netns
// exec" in a namespace the test creates, where its interface is) and stops
// it when pgha-proxy stops. The instance takes the virtual IP once its check
// (check-haproxy on the runtime socket) passes: HAProxy has a leader up.
func TestProxyManagesKeepalived(t *testing.T) {
	testutil.HAProxyBin(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Fatal("keepalived not found: install the Debian package keepalived (scripts/install-deps.sh)")
	}
	nets := &netns{t: t, prefix: fmt.Sprintf("pghaka%d-", os.Getpid()%100000)}
	ns := nets.add("a")
	nets.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	nets.ip("-n", ns, "addr", "add", vipNet+"1"+vipPrefix, "dev", "eth0")
	nets.ip("-n", ns, "link", "set", "eth0", "up")
	nets.ip("-n", ns, "link", "set", "eth1", "up")

	ec := testutil.StartEtcd(t, 1)
	dir, err := os.MkdirTemp("", "pghaka")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ports := testutil.FreePorts(t, 3)
	socket := filepath.Join(dir, "admin.sock")
	yml := fmt.Sprintf(`scope: ka
etcd3:
  hosts: %s
haproxy:
  config: %s/haproxy.cfg
  socket: %s
  bind_address: 127.0.0.1
  ports: {primary: %d, replicas: 0, stats: 0}
  keepalived:
    manage: true
    wrapper: [ip, netns, exec, %s]
    config: %s/keepalived.conf
    interface: eth0
    virtual_router_id: 52
    priority: 100
    advert_int: 1
    virtual_ips: [%s%s]
    check_script: %s check-haproxy -socket %s
    check_interval: 1
    check_timeout: 5
    check_fall: 1
    check_rise: 1
`, strings.TrimPrefix(ec.Endpoint(0), "http://"), dir, socket, ports[0], ns, dir, vipAddr, vipPrefix, self, socket)
	path := filepath.Join(dir, "pgha.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
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
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("runProxy: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	n1 := startFakeNode(t, "pg1", "primary", "127.0.0.1", ports[1], ports[2], listen)
	writer, err := etcd.New(etcd.Config{Endpoints: []string{ec.Endpoint(0)}, Scope: "ka", RequestTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	for _, kv := range []struct {
		k string
		v []byte
	}{{dcs.MemberKey("pg1"), n1.Member().Encode()}, {dcs.KeyLeader, []byte("pg1")}} {
		if _, err := writer.Put(context.Background(), kv.k, kv.v, 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	holds := func() error {
		if h := vipHolder(ns); h != ns {
			return fmt.Errorf("VIP not on %s (%q)", ns, h)
		}
		return nil
	}
	testutil.Eventually(t, 30*time.Second, holds, "managed keepalived holds the VIP once HAProxy serves")
	pidFile := filepath.Join(dir, "keepalived.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}

	stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("keepalived %d still runs after pgha-proxy stopped", pid)
	}
	if h := vipHolder(ns); h != "" {
		t.Fatalf("VIP still on %s after keepalived stopped", h)
	}
}
