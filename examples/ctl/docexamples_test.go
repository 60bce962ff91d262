package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// patronictl's documented example invocations (docs/patronictl.rst),
// run through pgha-ctl's entry point against a real cluster: two
// pgha-agent processes with PostgreSQL 15 over an embedded etcd, started
// by localcluster (as the end-to-end tests do). Each step checks the exit
// status and what the documentation shows, and waits for the cluster to
// settle where the command changes it.
func TestPatronictlDocExamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	bin, err := localcluster.BuildAgent(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		AgentBin: bin, Nodes: 2, EtcdMembers: 1, NoHAProxy: true, Scope: "batman",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	healthy := func() string {
		t.Helper()
		hctx, hcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer hcancel()
		leader, err := c.WaitHealthy(hctx)
		if err != nil {
			t.Fatal(err)
		}
		return leader
	}
	leader := healthy()
	replica := "node1"
	if leader == "node1" {
		replica = "node2"
	}
	env := []string{"PATRONICTL_CONFIG_FILE=" + c.Nodes()[0].ConfigPath()}
	pgUser, pgPassword := c.Credentials()

	ctl := func(stdin string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, env)
		if code != 0 {
			t.Fatalf("pgha-ctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String()
	}
	expect := func(out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	out := ctl("", "list")
	expect(out, "+ Cluster: batman (", "| Member ", "| Receive LSN | Lag | Replay LSN | Lag |", leader, "| Leader ", replica, "| Replica ", "streaming")
	out = ctl("", "list", "-e")
	expect(out, "Pending restart", "Scheduled restart", "Tags", "failover_priority: 1")
	out = ctl("", "list", "batman", "-f", "json")
	expect(out, `"Cluster": "batman"`, `"Member": "`+replica+`"`, `"State": "streaming"`, `"Receive LSN": "`)
	out = ctl("", "topology")
	expect(out, "| "+leader+" ", "| + "+replica+" ")

	// Switchover and back with failover, each waited for by the agents'
	// REST API before pgha-ctl returns.
	out = ctl("", "switchover", "--leader", leader, "--candidate", replica, "--force")
	expect(out, "Current cluster topology", `Successfully switched over to "`+replica+`"`)
	if got := healthy(); got != replica {
		t.Fatalf("leader after switchover: %s", got)
	}
	out = ctl("", "failover", "--candidate", leader, "--force")
	expect(out, `Successfully failed over to "`+leader+`"`)
	if got := healthy(); got != leader {
		t.Fatalf("leader after failover: %s", got)
	}
	// The new leader writes the history key after its promotion, on a
	// later loop: wait for both rows.
	hctx, hcancel := context.WithTimeout(ctx, time.Minute)
	defer hcancel()
	if err := localcluster.Poll(hctx, 200*time.Millisecond, func() error {
		out = ctl("", "history")
		if !strings.Contains(out, "| "+replica+" ") || !strings.Contains(out, "| "+leader+" ") {
			return errors.New("history lacks a promotion")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	expect(out, "| TL |", "| New Leader ")

	out = ctl("", "restart", "batman", "--role", "replica", "--force")
	expect(out, "Success: restart on member "+replica)
	healthy()

	out = ctl("", "edit-config", "-p", "work_mem=8MB", "--force")
	expect(out, "+    work_mem: 8MB", "Configuration changed")
	expect(ctl("", "show-config"), "loop_wait: 1", "work_mem: 8MB")
	expect(ctl("", "reload", "batman", "--force"), "Reload request received for member "+leader, "Reload request received for member "+replica)

	expect(ctl("", "pause", "--wait"), "Success: cluster management is paused")
	expect(ctl("", "list"), " Maintenance mode: on")
	expect(ctl("", "resume", "--wait"), "Success: cluster management is resumed")

	out = ctl(pgPassword+"\n", "query", "-U", pgUser, "--password", "-c", "select 1")
	if out != "?column?\n1\n" {
		t.Errorf("query: %q", out)
	}
	out = ctl(pgPassword+"\n", "query", "-U", pgUser, "--password", "-m", replica, "--format", "json", "-c", "select 1 as a, null as b")
	if out != `[{"a": 1, "b": null}]`+"\n" {
		t.Errorf("query --format json: %q", out)
	}
	out = ctl(pgPassword+"\n", "query", "batman", "-r", "replica", "-U", pgUser, "--password", "-c", "select pg_is_in_recovery() as r")
	if out != "r\nTrue\n" {
		t.Errorf("query -r replica: %q", out)
	}
	// A failing query: patronictl's error row, and exit status 1.
	var qout, qerr bytes.Buffer
	if code := run(ctx, []string{"query", "-U", pgUser, "--password", "-c", "select nosuchcolumn"}, strings.NewReader(pgPassword+"\n"),
		&qout, &qerr, env); code != 1 || !strings.Contains(qout.String(), "ERROR, SQLSTATE: 42703") {
		t.Errorf("failing query: exit %d, stdout %q, stderr %q", code, qout.String(), qerr.String())
	}
	expect(ctl("", "dsn", "-r", "replica"), "host=127.0.0.1 port="+strconv.Itoa(c.Node(replica).PGPort())+"\n")
	expect(ctl("", "dsn"), "host=127.0.0.1 port="+strconv.Itoa(c.Node(leader).PGPort())+"\n")

	out = ctl("", "version", "batman")
	expect(out, "pgha-ctl version ", leader+": Patroni ", replica+": Patroni ", " PostgreSQL 15.")
	expect(ctl("", "flush", "batman", "switchover"), "No pending scheduled switchover")

	out = ctl("", "reinit", "batman", replica, "--force", "--wait")
	expect(out, "Success: reinitialize for member "+replica, "Reinitialize is completed on: "+replica)
	healthy()
}
