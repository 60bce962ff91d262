package localcluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOneNodeCluster builds the agent, bootstraps a one-node cluster with
// HAProxy, writes through it, and checks that Close leaves no process and
// no directory behind.
func TestOneNodeCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := BuildAgent(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// bootstrap.users: the agent creates the role after bootstrapping.
	addUser := func(_ int, cfg map[string]any) {
		cfg["bootstrap"].(map[string]any)["users"] = map[string]any{"app": map[string]any{"password": "app-pw", "options": []string{"createdb"}}}
	}
	c, err := Start(ctx, Options{AgentBin: bin, Nodes: 1, Customize: addUser, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = c.Close()
		}
	})
	n := c.Nodes()[0]
	hctx, hcancel := context.WithTimeout(ctx, 90*time.Second)
	defer hcancel()
	leader, err := c.WaitHealthy(hctx)
	if err != nil {
		dumpLog(t, n)
		t.Fatal(err)
	}
	if leader != "node1" {
		t.Fatalf("leader %q, want node1", leader)
	}
	err = poll(ctx, 30*time.Second, 100*time.Millisecond, func() error {
		conn, err := pgx.Connect(ctx, c.ReadWriteDSN())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var createdb bool
		if err := conn.QueryRow(ctx, "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'app' AND rolcanlogin").Scan(&createdb); err != nil {
			return err
		}
		if !createdb {
			return errors.New("role app lacks CREATEDB")
		}
		return nil
	})
	if err != nil {
		dumpLog(t, n)
		t.Fatalf("bootstrap.users: %v", err)
	}
	w, err := c.StartWriter(ctx, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WaitAckAfter(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	res, err := c.Verify(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost != 0 || res.Acked == 0 {
		t.Fatalf("verify: %+v", res)
	}
	rows, err := c.Members(ctx)
	if err != nil || len(rows) != 1 || rows[0].Role != "leader" {
		t.Fatalf("members %+v, %v", rows, err)
	}
	pm, err := n.PostmasterPID()
	if err != nil || pm == 0 {
		t.Fatalf("postmaster pid %d, %v", pm, err)
	}
	agent := n.AgentPID()
	dir := c.Dir()

	closed = true
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range []int{agent, pm} {
		if alive(pid) {
			t.Errorf("process %d still alive after Close", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("work dir %s still exists: %v", dir, err)
	}
	if left := processesUnder(dir); len(left) > 0 {
		t.Errorf("processes still referring to %s: %v", dir, left)
	}
}

// processesUnder lists pids whose command line names dir.
func processesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir+"/") && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func dumpLog(t *testing.T, n *Node) {
	b, _ := os.ReadFile(n.LogPath())
	t.Logf("%s log:\n%s", n.Name(), b)
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
