package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// ConsulBin finds the consul binary: $CONSUL_BIN, then GOBIN or GOPATH/bin,
// where scripts/build-consul.sh puts the pinned version, then PATH. A missing
// binary fails the test.
func ConsulBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CONSUL_BIN"); p != "" {
		return p
	}
	dir := os.Getenv("GOBIN")
	if dir == "" {
		dir = filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "bin")
	}
	built := filepath.Join(dir, "consul")
	if _, err := os.Stat(built); err == nil {
		return built
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	t.Fatalf("consul binary not found ($CONSUL_BIN, %s, PATH): run scripts/build-consul.sh (Debian has no consul package; `make test` builds it)", built)
	return ""
}

// Consul is a real Consul agent on loopback ports, stopped by t.Cleanup.
type Consul struct {
	bin    string
	dir    string
	dev    bool
	http   int
	node   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// StartConsul starts "consul agent -dev" (in memory) or, with dev false, a
// single-server cluster that keeps its state in a data directory and so
// survives restarts. session_ttl_min is lowered to 1s for short test TTLs.
func StartConsul(t testing.TB, dev bool) *Consul {
	t.Helper()
	ports := FreePorts(t, 7)
	a := &Consul{bin: ConsulBin(t), dir: t.TempDir(), dev: dev, http: ports[0], node: "pgha-test"}
	cfg := fmt.Sprintf(`
node_name = %q
bind_addr = "127.0.0.1"
client_addr = "127.0.0.1"
advertise_addr = "127.0.0.1"
disable_update_check = true
log_level = "warn"
session_ttl_min = "1s"
ports {
  http = %d
  dns = %d
  serf_lan = %d
  serf_wan = %d
  server = %d
  grpc = %d
  grpc_tls = %d
  https = -1
}
`, a.node, ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6])
	if !dev {
		cfg += fmt.Sprintf(`
server = true
bootstrap_expect = 1
data_dir = %q
leave_on_terminate = false
performance { raft_multiplier = 1 }
`, filepath.Join(a.dir, "data"))
	}
	if err := os.WriteFile(filepath.Join(a.dir, "agent.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	t.Cleanup(a.Stop)
	return a
}

// Addr is the agent's HTTP API address.
func (a *Consul) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.http) }

// start starts the agent and waits until it is ready; t is the test that
// fails if it does not (the caller's, which may be a subtest).
func (a *Consul) start(t testing.TB) {
	t.Helper()
	args := []string{"agent", "-config-file", filepath.Join(a.dir, "agent.hcl")}
	if a.dev {
		args = append(args, "-dev")
	}
	a.log = &bytes.Buffer{}
	a.cmd = exec.Command(a.bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start consul: %v", err)
	}
	a.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(a.cmd, a.exited)

	client, err := api.NewClient(&api.Config{Address: a.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := a.ready(client)
		if err == nil {
			return
		}
		select {
		case <-a.exited:
			t.Fatalf("consul agent exited during startup: %s", a.log)
		default:
		}
		if time.Now().After(deadline) {
			a.Stop()
			t.Fatalf("consul agent not ready after 60s: %v\n%s", err, a.log)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline above
	}
}

// ready reports whether the agent has a raft leader and its node is in
// the catalog (sessions need the node registered).
func (a *Consul) ready(c *api.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	leader, err := c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader")
	}
	node, _, err := c.Catalog().Node(a.node, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if node == nil {
		return errors.New("node not registered yet")
	}
	return nil
}

// Stop ends the agent with SIGTERM (a server does not leave on terminate,
// so its sessions survive in its data directory), then SIGKILL.
func (a *Consul) Stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// Restart stops the agent and starts it again on the same ports and data.
func (a *Consul) Restart(t testing.TB) {
	t.Helper()
	a.Stop()
	a.start(t)
}
