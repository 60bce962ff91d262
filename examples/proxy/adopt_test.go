package main

import (
	"context"
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
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/haproxycfg"
	"github.com/pgha/pgha/internal/testutil"
)

// TestProxyAdopt: with manage: false pgha-proxy adopts an HAProxy it did
// not start (here started by the test, standing in for systemd), renders
// its configuration, reloads it with reload_command when the membership
// changes, and routes writes to the leader; stopping pgha-proxy leaves that
// HAProxy running.
func TestProxyAdopt(t *testing.T) {
	bin := testutil.HAProxyBin(t)
	ec := testutil.StartEtcd(t, 1)
	dir, err := os.MkdirTemp("", "pghaadopt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports := testutil.FreePorts(t, 5)
	rw := "127.0.0.1:" + strconv.Itoa(ports[0])
	socket := filepath.Join(dir, "admin.sock")
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The "system" HAProxy, with a configuration pgha-proxy did not write.
	opts := haproxycfg.DefaultOptions()
	opts.BindAddress = "127.0.0.1"
	opts.ReadWritePort, opts.ReadOnlyPort, opts.StatsPort = ports[0], 0, 0
	opts.StatsSocket = socket
	initial, err := haproxycfg.Render(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, initial, 0o644); err != nil {
		t.Fatal(err)
	}
	sys, err := haproxycfg.NewProcess(haproxycfg.ProcessConfig{Bin: bin, ConfigPath: cfgPath, StatsSocket: socket, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := sys.Start(sctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sys.Stop(ctx)
	})

	yml := fmt.Sprintf(`scope: adopt
etcd3:
  hosts: %s
haproxy:
  bin: %s
  config: %s
  socket: %s
  manage: false
  reload_command: [/bin/kill, -USR2, "%d"]
  bind_address: 127.0.0.1
  ports: {primary: %d, replicas: 0, stats: 0}
`, strings.TrimPrefix(ec.Endpoint(0), "http://"), bin, cfgPath, socket, sys.MasterPID(), ports[0])
	path := filepath.Join(dir, "pgha.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, nil, "/usr/local/bin/pgha-proxy")
	if err != nil {
		t.Fatal(err)
	}
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
	n2 := startFakeNode(t, "pg2", "replica", "127.0.0.1", ports[3], ports[4], listen)
	writer, err := etcd.New(etcd.Config{Endpoints: []string{ec.Endpoint(0)}, Scope: "adopt", RequestTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	for _, kv := range []struct {
		k string
		v []byte
	}{{dcs.MemberKey("pg1"), n1.Member().Encode()}, {dcs.MemberKey("pg2"), n2.Member().Encode()}, {dcs.KeyLeader, []byte("pg1")}} {
		if _, err := writer.Put(context.Background(), kv.k, kv.v, 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 20*time.Second, routesTo(rw, 5, "pg1"), "adopted HAProxy reloaded and routing to the leader")
	stop()
	if sys.MasterPID() == 0 || func() bool {
		select {
		case <-sys.Done():
			return true
		default:
			return false
		}
	}() {
		t.Fatal("pgha-proxy stopped an HAProxy it adopted")
	}
	if err := routesTo(rw, 3, "pg1")(); err != nil {
		t.Fatalf("adopted HAProxy after pgha-proxy stopped: %v", err)
	}
}
