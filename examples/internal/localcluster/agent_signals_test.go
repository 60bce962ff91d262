package localcluster

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"
)

// The agent applies a PostgreSQL parameter on SIGHUP and stops cleanly on
// SIGTERM (exit status 0, PostgreSQL stopped by the hand-over).
func TestAgentReloadAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := BuildAgent(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, Options{AgentBin: bin, Nodes: 1, NoHAProxy: true, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	n := c.Nodes()[0]
	hctx, hcancel := context.WithTimeout(ctx, 90*time.Second)
	defer hcancel()
	if _, err := c.WaitHealthy(hctx); err != nil {
		dumpLog(t, n)
		t.Fatal(err)
	}

	// Edit postgresql.parameters in the file and send SIGHUP.
	raw, err := os.ReadFile(n.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["postgresql"].(map[string]any)["parameters"].(map[string]any)["work_mem"] = "7MB"
	doc["log"].(map[string]any)["level"] = "DEBUG"
	out, _ := yaml.Marshal(doc)
	if err := os.WriteFile(n.ConfigPath(), out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadNode(n.Name()); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 30*time.Second, 200*time.Millisecond, func() error {
		conn, err := pgx.Connect(ctx, c.NodeDSN(n.Name()))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var v string
		if err := conn.QueryRow(ctx, "SHOW work_mem").Scan(&v); err != nil {
			return err
		}
		if v != "7MB" {
			return &valueError{v}
		}
		return nil
	})
	if err != nil {
		dumpLog(t, n)
		t.Fatalf("work_mem after SIGHUP: %v", err)
	}
	logText, _ := os.ReadFile(n.LogPath())
	if os.Getenv("LOCALCLUSTER_DUMP") != "" {
		t.Logf("%s", logText)
	}
	if !strings.Contains(string(logText), "log level changed") {
		t.Errorf("agent log does not report the level change:\n%s", logText)
	}

	// SIGTERM: the agent exits 0 and its primary is stopped (hand-over).
	if err := c.StopNode(ctx, n.Name()); err != nil {
		t.Fatal(err)
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		dumpLog(t, n)
		t.Fatalf("agent exit code %d, want 0", code)
	}
	if pid, err := n.PostmasterPID(); err != nil || pid != 0 {
		t.Errorf("postmaster %d still running after the leader's agent stopped (%v)", pid, err)
	}
}

type valueError struct{ v string }

func (e *valueError) Error() string { return "work_mem is " + e.v }
