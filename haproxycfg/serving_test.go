package haproxycfg

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
)

// TestCheckServing: the Keepalived check passes only while HAProxy runs,
// its read-write frontend accepts and its read-write backend has a server
// up; a stopped HAProxy or a backend without a primary fails it.
func TestCheckServing(t *testing.T) {
	env := startSyncEnv(t)
	n1 := startNode(t, "pg1", "replica")
	env.put(t, n1.Member())
	env.waitServers(t, ProxyPrimary, "pg1")
	rw := "127.0.0.1:" + strconv.Itoa(env.opts.ReadWritePort)
	full := ServingCheck{StatsSocket: env.opts.StatsSocket, Connect: rw}
	check := func(c ServingCheck) func() error {
		return func() error { return CheckServing(context.Background(), c) }
	}
	if err := check(full)(); err == nil || !strings.Contains(err.Error(), "backend primary is DOWN") {
		t.Fatalf("no primary: %v", err)
	}
	if err := check(ServingCheck{Connect: rw})(); err != nil {
		t.Fatalf("frontend only: %v", err)
	}
	n1.SetRole("primary")
	testutil.Eventually(t, 10*time.Second, check(full), "serving once pg1 is primary")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.proc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []ServingCheck{full, {StatsSocket: env.opts.StatsSocket}, {Connect: rw}} {
		if err := check(c)(); err == nil {
			t.Errorf("%+v passes with HAProxy stopped", c)
		}
	}
	if err := CheckServing(context.Background(), ServingCheck{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty check: %v", err)
	}
}

func TestBackendStatusParse(t *testing.T) {
	out := "# pxname,svname,qcur,status,x\nprimary,FRONTEND,,OPEN,\nprimary,pg1,0,UP,\nprimary,BACKEND,0,UP,\nreplicas,BACKEND,0,DOWN,\n\n"
	for _, tt := range []struct{ backend, want string }{{"primary", "UP"}, {"replicas", "DOWN"}, {"sync", ""}} {
		got, err := backendStatus(out, tt.backend)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("%s: %q, %v", tt.backend, got, err)
		}
	}
	if _, err := backendStatus("garbage\n", "primary"); err == nil {
		t.Error("garbage accepted")
	}
}

// TestRenderKeepalivedAcceptedByKeepalived: Debian's keepalived accepts
// what RenderKeepalived writes (--config-test, run in a network namespace
// the test creates, where the interface exists), and refuses a file with
// an unknown keyword.
func TestRenderKeepalivedAcceptedByKeepalived(t *testing.T) {
	bin := keepalivedBin(t)
	ns := testNetns(t)
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1").CombinedOutput(); err != nil {
		t.Fatalf("veth in %s: %v: %s", ns, err, out)
	}
	dir := t.TempDir()
	cfg, err := RenderKeepalived(KeepalivedOptions{
		Interface: "eth0", VirtualRouterID: 51, Priority: 101, AuthPass: "s3cret",
		VirtualIPs: []string{"10.0.0.100/24"}, UnicastSrcIP: "10.0.0.1", UnicastPeers: []string{"10.0.0.2"},
		CheckScript: "/bin/true", CheckInterval: time.Second, CheckTimeout: 3 * time.Second, CheckWeight: 20, ScriptUser: "root",
		NotifyMaster: "/bin/true master", NotifyBackup: "/bin/true backup", NotifyFault: "/bin/true fault",
		NotifyStop: "/bin/true stop", Notify: "/bin/true",
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeepalived(KeepalivedConfig{Bin: bin, ConfigPath: filepath.Join(dir, "keepalived.conf"), RunDir: dir,
		Wrapper: []string{"ip", "netns", "exec", ns}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := k.Validate(ctx, path); err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	bad := strings.Replace(string(cfg), "    advert_int 1\n", "    advert_int 1\n    bogus_keyword 1\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.Validate(ctx, path); err == nil {
		t.Fatalf("keepalived accepted an unknown keyword:\n%s", bad)
	}
}

// testNetns creates a network namespace that t.Cleanup deletes (with
// everything in it).
func testNetns(t testing.TB) string {
	t.Helper()
	ns := "pghacfg-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s (iproute2, run as root): %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

// keepalivedBin returns Debian's keepalived or fails naming the package.
func keepalivedBin(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"keepalived", "/usr/sbin/keepalived"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	t.Fatal("keepalived not found: install the Debian package keepalived (scripts/install-deps.sh)")
	return ""
}
