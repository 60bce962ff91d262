package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgha/pgha/haproxycfg"
	"github.com/pgha/pgha/internal/testutil"
)

// The VIP test's private network: it exists only inside the namespaces the
// test creates (a bridge in the client namespace, one veth per other
// namespace), never on the host's interfaces.
const (
	vipNet    = "10.99.0."
	vipAddr   = vipNet + "100"
	vipPrefix = "/24"
	rwPort    = 5000
)

// netns runs ip(8) commands against namespaces of one test.
type netns struct {
	t      *testing.T
	prefix string
}

func (n *netns) name(s string) string { return n.prefix + s }

func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// add creates namespace s, removed by t.Cleanup after killing whatever
// still runs in it (processes this test started there).
func (n *netns) add(s string) string {
	n.t.Helper()
	ns := n.name(s)
	n.ip("netns", "add", ns)
	n.t.Cleanup(func() { n.destroy(ns) })
	n.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// destroy SIGKILLs the processes in ns (all started by this test) and
// deletes it; deleting an absent namespace is not an error.
func (n *netns) destroy(ns string) {
	if _, err := os.Stat("/run/netns/" + ns); err != nil {
		return
	}
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Killed processes leave the namespace once reaped; retry the delete.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			n.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inNetns runs fn on an OS thread that has entered namespace ns. Sockets
// created by fn stay in ns whichever thread uses them later.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// vipHolder returns which of the namespaces holds the virtual IP ("" none).
func vipHolder(nss ...string) string {
	holder := ""
	for _, ns := range nss {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		out, err := exec.Command("ip", "-n", ns, "-4", "addr", "show", "dev", "eth0").Output()
		if err == nil && strings.Contains(string(out), " "+vipAddr+"/") {
			if holder != "" {
				return "both"
			}
			holder = ns
		}
	}
	return holder
}

// proxyNode is one proxy host: HAProxy and Keepalived in its namespace.
type proxyNode struct {
	ns      string
	dir     string
	haproxy *haproxycfg.Process
	ka      *haproxycfg.Keepalived
	notify  string // notify log
}

// writer writes numbered lines through the VIP from the client namespace,
// one connection at a time, reconnecting after any error, and records the
// lines acknowledged (echoed).
type writer struct {
	ns string

	mu      sync.Mutex
	acked   []string
	lastAck time.Time
	maxGap  time.Duration
	errs    int
}

func (w *writer) run(ctx context.Context) {
	var conn net.Conn
	var r *bufio.Reader
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		if conn == nil {
			err := inNetns(w.ns, func() error {
				c, err := net.DialTimeout("tcp", net.JoinHostPort(vipAddr, strconv.Itoa(rwPort)), 500*time.Millisecond)
				if err != nil {
					return err
				}
				conn = c
				return nil
			})
			if err == nil {
				r = bufio.NewReader(conn)
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				_, err = r.ReadString('\n') // greeting
			}
			if err != nil {
				w.fail(&conn)
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		line := "w" + strconv.Itoa(i)
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprintf(conn, "%s\n", line); err != nil {
			w.fail(&conn)
			continue
		}
		got, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(got) != line {
			w.fail(&conn)
			continue
		}
		now := time.Now()
		w.mu.Lock()
		if !w.lastAck.IsZero() && now.Sub(w.lastAck) > w.maxGap {
			w.maxGap = now.Sub(w.lastAck)
		}
		w.lastAck = now
		w.acked = append(w.acked, line)
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *writer) fail(conn *net.Conn) {
	if *conn != nil {
		_ = (*conn).Close()
		*conn = nil
	}
	w.mu.Lock()
	w.errs++
	w.mu.Unlock()
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// progressed succeeds once n more writes than base were acknowledged.
func (w *writer) progressed(base, n int) func() error {
	return func() error {
		if c := w.count(); c < base+n {
			return fmt.Errorf("%d writes acknowledged since, want %d", c-base, n)
		}
		return nil
	}
}

// TestKeepalivedVIPFailover runs Debian's keepalived and HAProxy on two
// proxy hosts, each in its own network namespace, in front of a TCP server
// standing in for PostgreSQL (with a health API answering /primary 200) in
// a third, and a writer in a fourth that writes through the virtual IP.
// Keepalived's check is pgha-proxy check-haproxy (played by the test
// binary). Killing the active host's HAProxy moves the VIP (a live
// Keepalived is not enough), and so does killing its whole namespace; the
// writer continues and no acknowledged write is lost.
func TestKeepalivedVIPFailover(t *testing.T) {
	haproxyBin := testutil.HAProxyBin(t)
	kaBin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Fatal("keepalived not found: install the Debian package keepalived (scripts/install-deps.sh)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	nets := &netns{t: t, prefix: fmt.Sprintf("pghavip%d-", os.Getpid()%100000)}
	nsC, nsA, nsB, nsD := nets.add("c"), nets.add("a"), nets.add("b"), nets.add("d")
	nets.ip("-n", nsC, "link", "add", "br0", "type", "bridge")
	nets.ip("-n", nsC, "addr", "add", vipNet+"20"+vipPrefix, "dev", "br0")
	nets.ip("-n", nsC, "link", "set", "br0", "up")
	for _, h := range []struct{ ns, veth, addr string }{{nsA, "va", "1"}, {nsB, "vb", "2"}, {nsD, "vd", "10"}} {
		nets.ip("-n", nsC, "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
		nets.ip("-n", nsC, "link", "set", h.veth, "master", "br0", "up")
		nets.ip("-n", h.ns, "addr", "add", vipNet+h.addr+vipPrefix, "dev", "eth0")
		nets.ip("-n", h.ns, "link", "set", "eth0", "up")
	}

	// The database stand-in in its namespace.
	listenD := func(addr string) (net.Listener, error) {
		var ln net.Listener
		err := inNetns(nsD, func() error {
			var err error
			ln, err = net.Listen("tcp", addr)
			return err
		})
		return ln, err
	}
	db := startFakeNode(t, "pg1", "primary", vipNet+"10", 5432, 8008, listenD)

	dir, err := os.MkdirTemp("", "pghavip")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	notifyScript := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(notifyScript, []byte("#!/bin/sh\necho \"$3\" >> \"$(dirname \"$0\")/notify-$2.log\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	startNode := func(ns, name, addr, peer string, priority int) *proxyNode {
		n := &proxyNode{ns: ns, dir: filepath.Join(dir, name)}
		if err := os.Mkdir(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		opts := haproxycfg.DefaultOptions()
		opts.ReadWritePort, opts.ReadOnlyPort, opts.StatsPort = rwPort, 0, 0
		opts.StatsSocket = filepath.Join(n.dir, "admin.sock")
		opts.ConnectTimeout = time.Second
		cfg, err := haproxycfg.Render([]haproxycfg.Server{{Name: "pg1", Host: vipNet + "10", Port: 5432, CheckPort: 8008}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(n.dir, "haproxy.cfg")
		if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		n.haproxy, err = haproxycfg.NewProcess(haproxycfg.ProcessConfig{Bin: haproxyBin, ConfigPath: cfgPath,
			StatsSocket: opts.StatsSocket, Wrapper: []string{"ip", "netns", "exec", ns}, Logger: log.With("node", name)})
		if err != nil {
			t.Fatal(err)
		}
		n.startHAProxy(t)

		ko := haproxycfg.KeepalivedOptions{
			InstanceName: "VI_" + name, Interface: "eth0", VirtualRouterID: 51, Priority: priority,
			AdvertInterval: time.Second, AuthPass: "s3cret", VirtualIPs: []string{vipAddr + vipPrefix},
			UnicastSrcIP: addr, UnicastPeers: []string{peer},
			CheckScript:   self + " check-haproxy -socket " + opts.StatsSocket + " -connect 127.0.0.1:" + strconv.Itoa(rwPort) + " -timeout 1s",
			CheckInterval: time.Second, CheckTimeout: 5 * time.Second, CheckWeight: defaultCheckWeight, CheckFall: 1, CheckRise: 1,
			Notify: notifyScript,
		}
		kcfg, err := haproxycfg.RenderKeepalived(ko)
		if err != nil {
			t.Fatal(err)
		}
		kaPath := filepath.Join(n.dir, "keepalived.conf")
		if err := os.WriteFile(kaPath, kcfg, 0o644); err != nil {
			t.Fatal(err)
		}
		n.notify = filepath.Join(dir, "notify-VI_"+name+".log")
		n.ka, err = haproxycfg.NewKeepalived(haproxycfg.KeepalivedConfig{Bin: kaBin, ConfigPath: kaPath, RunDir: n.dir,
			Wrapper: []string{"ip", "netns", "exec", ns}, Logger: log.With("node", name)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := n.ka.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.ka.Stop(ctx); err != nil {
				t.Errorf("stop keepalived %s: %v", name, err)
			}
		})
		return n
	}
	a := startNode(nsA, "a", vipNet+"1", vipNet+"2", 101)
	b := startNode(nsB, "b", vipNet+"2", vipNet+"1", 100)

	holds := func(want string) func() error {
		return func() error {
			if got := vipHolder(nsA, nsB); got != want {
				return fmt.Errorf("VIP held by %q, want %q", got, want)
			}
			return nil
		}
	}
	testutil.Eventually(t, 30*time.Second, holds(nsA), "host a (higher priority, serving) holds the VIP")

	w := &writer{ns: nsC}
	wctx, stopWriter := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { defer close(wdone); w.run(wctx) }()
	t.Cleanup(func() { stopWriter(); <-wdone })
	testutil.Eventually(t, 20*time.Second, w.progressed(0, 10), "writes through the VIP")

	// 1. HAProxy on the active host dies; Keepalived there still runs.
	killed := time.Now()
	if err := syscall.Kill(a.haproxy.MasterPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.haproxy.Done()
	testutil.Eventually(t, 30*time.Second, holds(nsB), "VIP moves to b when a's HAProxy dies")
	t.Logf("VIP on b %v after a's HAProxy was killed", time.Since(killed).Round(time.Millisecond))
	base := w.count()
	testutil.Eventually(t, 30*time.Second, w.progressed(base, 10), "writes continue through b")
	testutil.Eventually(t, 10*time.Second, notified(b.notify, "MASTER"), "b's notify hook saw MASTER")
	testutil.Eventually(t, 10*time.Second, notified(a.notify, "BACKUP"), "a's notify hook saw BACKUP")

	// a's HAProxy comes back: a preempts again (priority 101+50 > 100+50).
	a.startHAProxy(t)
	testutil.Eventually(t, 30*time.Second, holds(nsA), "VIP back on a once its HAProxy serves")
	base = w.count()
	testutil.Eventually(t, 30*time.Second, w.progressed(base, 10), "writes continue through a")

	// 2. The active host disappears with everything in it.
	killed = time.Now()
	nets.destroy(nsA)
	testutil.Eventually(t, 30*time.Second, holds(nsB), "VIP moves to b when host a is gone")
	t.Logf("VIP on b %v after host a's namespace was removed", time.Since(killed).Round(time.Millisecond))
	base = w.count()
	testutil.Eventually(t, 30*time.Second, w.progressed(base, 10), "writes continue through b after host a is gone")

	stopWriter()
	<-wdone
	w.mu.Lock()
	acked, maxGap, errs := append([]string(nil), w.acked...), w.maxGap, w.errs
	w.mu.Unlock()
	for _, l := range acked {
		if !db.Received(l) {
			t.Fatalf("acknowledged write %s missing at the database", l)
		}
	}
	t.Logf("%d writes acknowledged through the VIP, none lost; longest gap %v, %d failed attempts", len(acked), maxGap.Round(time.Millisecond), errs)
}

// startHAProxy starts the host's HAProxy (again) and stops it with the
// test.
func (n *proxyNode) startHAProxy(t *testing.T) {
	t.Helper()
	if n.haproxy.MasterPID() != 0 {
		p, err := haproxycfg.NewProcess(n.haproxy.Config())
		if err != nil {
			t.Fatal(err)
		}
		n.haproxy = p
	}
	p := n.haproxy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop haproxy in %s: %v", n.ns, err)
		}
	})
}

// notified succeeds once the notify log has a line equal to state.
func notified(path, state string) func() error {
	return func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == state {
				return nil
			}
		}
		return fmt.Errorf("%s has %q, no %s", path, b, state)
	}
}
