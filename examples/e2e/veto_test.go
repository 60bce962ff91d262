package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// vetoTTL is the ttl of TestShortTTLVeto: below pgha's 6 s, where the
// demote lead derives from it (min(600 ms, ttl/10) = 400 ms).
const vetoTTL = 4

// TestShortTTLVeto runs a cluster at ttl 4 s, with writers through HAProxy
// and on every node, through two faults:
//   - agent_frozen: the leader's agent is SIGSTOPped; its fence keeper
//     stops the primary before the lease expires (the demote lead derived
//     from the short ttl);
//   - node_crash_veto: the leader's node is killed while the replica the
//     candidate rule prefers (failover_priority 10) vetoes its promotion
//     in pre_promote. It must publish the veto so that the other replica,
//     which deferred to it, promotes instead: one primary at every
//     moment, and the cluster is not stuck.
//
// Every node's on_start and on_role_change callbacks hang past their
// timeout throughout.
func TestShortTTLVeto(t *testing.T) {
	dir := t.TempDir()
	vetoLog := filepath.Join(dir, "pre_promote.log")
	script := filepath.Join(dir, "pre_promote.sh")
	// The script vetoes on the node whose veto-<name> file exists.
	body := fmt.Sprintf("#!/bin/sh\nif [ -e '%s/veto-'\"$1\" ]; then echo \"$1 vetoed\" >> '%s'; exit 1; fi\necho \"$1 allowed\" >> '%s'\n",
		dir, vetoLog, vetoLog)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// Callbacks that hang past their 30 s timeout must not hold up a
	// failover: they run beside the loop and are killed at the timeout.
	hangLog := filepath.Join(dir, "callbacks.log")
	hang := filepath.Join(dir, "hang.sh")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\necho \"$@\" >> '"+hangLog+"'\nexec sleep 45\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.DCS = map[string]any{"ttl": vetoTTL}
		o.Customize = func(_ int, cfg map[string]any) {
			name, _ := cfg["name"].(string)
			pg, _ := cfg["postgresql"].(map[string]any)
			pg["pre_promote"] = script + " " + name
			cb := hang + " " + name
			pg["callbacks"] = map[string]any{"on_start": cb, "on_role_change": cb}
		}
	})
	if h.ttl != vetoTTL*time.Second {
		t.Fatalf("the cluster runs with ttl %v, want %ds", h.ttl, vetoTTL)
	}
	h.requireMetrics(t)
	if !t.Run("agent_frozen", func(t *testing.T) { testAgentFault(t, h, localcluster.AgentFrozen, "", false) }) {
		t.Fatal("agent_frozen failed; skipping node_crash_veto")
	}
	t.Run("node_crash_veto", func(t *testing.T) { testNodeCrashVeto(t, h, dir, vetoLog) })
	// Proof that the hanging callbacks ran: each failover above happened
	// while one hung.
	data, err := os.ReadFile(hangLog)
	if err != nil || strings.Count(string(data), "on_role_change primary") < 2 {
		t.Errorf("the hanging on_role_change callbacks did not run for both promotions (%v):\n%s", err, data)
	}
}

func testNodeCrashVeto(t *testing.T, h *harness, dir, vetoLog string) {
	leader := h.waitHealthy(t)
	vetoer := h.replicaOf(t, leader)
	other := h.otherNode(t, leader, vetoer)
	if err := os.WriteFile(filepath.Join(dir, "veto-"+vetoer), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 3*waitTimeout)
	defer cancel()
	// The candidate rule orders by failover_priority first: the others
	// defer to the vetoer until it publishes its veto.
	if err := h.c.SetTags(ctx, vetoer, map[string]any{"failover_priority": 10}); err != nil {
		t.Fatalf("tag %s: %v", vetoer, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = h.c.SetTags(ctx, vetoer, nil)
	})
	if got := h.waitHealthy(t); got != leader {
		t.Fatalf("leader %s after tagging %s, want %s", got, vetoer, leader)
	}
	h.requireReplica(t, vetoer)

	obs, err := h.c.StartObserver(ctx, leader, waitTimeout)
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	defer obs.Stop()
	faultAt, err := h.c.KillNode(ctx, leader)
	if err != nil {
		t.Fatalf("kill node %s: %v", leader, err)
	}
	// The vetoer may take the leader key first: pre_promote runs once it
	// holds it, as in Patroni. It must hand the key back unpromoted.
	newLeader, leaderAt, err := h.c.WaitLeader(ctx, func(n string) bool { return n == other })
	if err != nil {
		t.Fatalf("%s never took the leader key after the crash of %s with %s vetoing: %v", other, leader, vetoer, err)
	}
	if ev, ok := obs.LeaderWatch().First(faultAt, func(n string) bool { return n == other }); ok {
		leaderAt = ev.At
	}
	data, _ := os.ReadFile(vetoLog)
	if !strings.Contains(string(data), vetoer+" vetoed") {
		t.Errorf("%s never ran pre_promote (so the veto was not tested); log:\n%s", vetoer, data)
	}
	var held []string
	for _, ev := range obs.LeaderWatch().Events() {
		if ev.At.After(faultAt) {
			held = append(held, fmt.Sprintf("%q at %s", ev.Name, ms(ev.At.Sub(faultAt))))
		}
	}
	t.Logf("node crash of %s with %s (failover_priority 10) vetoing: %s took the leader key after %s; leader key: %s; pre_promote log:\n%s",
		leader, vetoer, newLeader, ms(leaderAt.Sub(faultAt)), strings.Join(held, ", "), data)
	if _, err := obs.WaitWrites(ctx, "", leaderAt, waitTimeout); err != nil {
		t.Errorf("writes after %s took over: %v", newLeader, err)
	}

	if err := h.c.StartNode(ctx, leader); err != nil {
		t.Fatalf("restart node %s: %v", leader, err)
	}
	if got := h.waitHealthy(t); got != newLeader {
		t.Errorf("leader %s after %s rejoined, want %s", got, leader, newLeader)
	}
	obs.Stop()
	a := obs.Analyze(leader, faultAt, time.Now())
	checkOneWriter(t, a)
	res, err := obs.Verify(ctx)
	if err != nil {
		t.Fatalf("verify acknowledged writes: %v", err)
	}
	// Asynchronous replication: a node crash may lose the last commits
	// the dead primary acknowledged; counted and reported.
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost; longest gap %s through HAProxy, %s directly",
		res.Acked, res.Found, res.Primary, res.Lost, ms(a.ProxyGap.Duration()), ms(a.DirectGap.Duration()))
	if res.Acked == 0 {
		t.Error("no write was acknowledged")
	}
	h.requireOnePrimary(t, newLeader)
	h.requireReplica(t, vetoer)
}

// requireMetrics checks that every agent serves Patroni's metrics
// (healthapi/metrics) at GET /metrics, the leader with patroni_primary 1.
func (h *harness) requireMetrics(t *testing.T) {
	t.Helper()
	leader := h.waitHealthy(t)
	for _, n := range h.c.Nodes() {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+"/metrics", nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %s/metrics: %v", n.Name(), err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/metrics: %d, %v", n.Name(), resp.StatusCode, err)
		}
		want := "patroni_primary{name=\"" + n.Name() + "\",scope="
		i := strings.Index(string(body), want)
		if i < 0 {
			t.Fatalf("%s's /metrics has no %s...:\n%.2000s", n.Name(), want, body)
		}
		line, _, _ := strings.Cut(string(body[i:]), "\n")
		if isLeader := n.Name() == leader; strings.HasSuffix(line, " 1") != isLeader {
			t.Errorf("%s (leader %s): %s", n.Name(), leader, line)
		}
	}
}
