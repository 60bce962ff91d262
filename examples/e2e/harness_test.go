package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// waitTimeout bounds every wait for a condition. It is a deadline for
// "this never happens", not a speed goal: the measured times are logged.
const waitTimeout = 90 * time.Second

// harness is one running cluster shared by the scenarios, with a direct
// etcd client for observing the leader key.
type harness struct {
	ctx    context.Context
	c      *localcluster.Cluster
	etcd   *clientv3.Client
	prefix string
	ttl    time.Duration
	log    *slog.Logger
	// callbackLog, when set, is the file every node's callbacks append
	// "<member> <action> <role> <scope>" to (withCallbacks).
	callbackLog string
}

// newHarness builds the agent, starts three agents over a three-member
// etcd with HAProxy, and waits until the cluster is healthy. Everything is
// stopped by t.Cleanup; agent logs are printed when the test failed.
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with customize, when not nil, editing the
// cluster's options before it starts.
func newHarnessWith(t *testing.T, customize func(*localcluster.Options)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	start := time.Now()
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Minute)
	bin, err := localcluster.BuildAgent(bctx, t.TempDir())
	bcancel()
	if err != nil {
		t.Fatalf("build agent: %v", err)
	}
	t.Logf("agent built in %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	opts := localcluster.Options{
		AgentBin:    bin,
		Nodes:       3,
		EtcdMembers: 3,
		Logger:      logger,
		// PGHA_E2E_KEEP=1 keeps the cluster's directory (agent logs, data)
		// for a look after a failure.
		KeepDir: os.Getenv("PGHA_E2E_KEEP") != "",
	}
	if customize != nil {
		customize(&opts)
	}
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, c)
		}
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		// Close stops the agents' fence keepers too (issue 14): none may
		// outlive the cluster.
		if ks := c.FenceKeepers(); len(ks) > 0 {
			t.Errorf("fence keepers still running after the cluster was closed: %v", ks)
		}
	})

	cfg, _, err := agentconfig.Load(c.Nodes()[0].ConfigPath(), nil)
	if err != nil {
		t.Fatalf("read node1's configuration: %v", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Etcd().Endpoints(),
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })

	h := &harness{ctx: ctx, c: c, etcd: cli, prefix: dcs.Prefix(cfg.Namespace, cfg.Scope), log: logger}
	leader := h.waitHealthy(t)
	t.Logf("cluster healthy after %v, leader %s", time.Since(start).Round(time.Millisecond), leader)

	h.ttl = 6 * time.Second
	if snap, err := c.Snapshot(ctx); err == nil && snap.Config != nil {
		h.ttl = dcs.Seconds(snap.Config.TTL, h.ttl)
	}
	return h
}

// dumpLogs prints the tail of every agent's log, for a failed test.
func dumpLogs(t *testing.T, c *localcluster.Cluster) {
	for _, n := range c.Nodes() {
		data, err := os.ReadFile(n.LogPath())
		if err != nil {
			t.Logf("log of %s: %v", n.Name(), err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		t.Logf("---- last %d lines of %s's log (%s) ----\n%s", len(lines), n.Name(), n.LogPath(), strings.Join(lines, "\n"))
	}
}

// waitHealthy waits until the cluster has one leader serving /primary and
// every running node replicates from it, and returns the leader.
func (h *harness) waitHealthy(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	leader, err := h.c.WaitHealthy(ctx)
	if err != nil {
		t.Fatalf("cluster not healthy: %v", err)
	}
	return leader
}

// replicaOf returns a running node other than leader.
func (h *harness) replicaOf(t *testing.T, leader string) string {
	t.Helper()
	for _, n := range h.c.Nodes() {
		if n.Name() != leader && n.Running() {
			return n.Name()
		}
	}
	t.Fatalf("no running replica besides %s", leader)
	return ""
}

// startWriter starts a writer through HAProxy's read-write port, waits
// until it has some acknowledged writes (so a fault hits a writer in full
// swing) and stops it at the end of the test.
func (h *harness) startWriter(t *testing.T) *localcluster.Writer {
	t.Helper()
	w, err := h.c.StartWriter(h.ctx, localcluster.WriterOptions{Logger: h.log})
	if err != nil {
		t.Fatalf("start writer: %v", err)
	}
	t.Cleanup(w.Stop)
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	if err := localcluster.Poll(ctx, 10*time.Millisecond, func() error {
		if n := len(w.Acks()); n < 50 {
			return fmt.Errorf("%d writes acknowledged through HAProxy", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("writer: %v", err)
	}
	return w
}

// ackAfter waits for the first write acknowledged after at.
func (h *harness) ackAfter(t *testing.T, w *localcluster.Writer, at time.Time, what string) localcluster.Ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	ack, err := w.WaitAckAfter(ctx, at)
	if err != nil {
		t.Fatalf("no write acknowledged through HAProxy after %s: %v", what, err)
	}
	return ack
}

// verify stops the writer and checks the acknowledged writes against the
// current primary; it returns the result for the caller to judge.
func (h *harness) verify(t *testing.T, w *localcluster.Writer) localcluster.VerifyResult {
	t.Helper()
	w.Stop()
	var res localcluster.VerifyResult
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	// The primary may still be settling (HAProxy, a restart): retry.
	err := localcluster.Poll(ctx, 200*time.Millisecond, func() error {
		var err error
		res, err = h.c.Verify(ctx, w)
		return err
	})
	if err != nil {
		t.Fatalf("verify acknowledged writes: %v", err)
	}
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost, %d failed attempts",
		res.Acked, res.Found, res.Primary, res.Lost, w.Errors())
	return res
}

// requireNothingLost fails the test if an acknowledged write is missing.
func (h *harness) requireNothingLost(t *testing.T, w *localcluster.Writer) {
	t.Helper()
	checkNothingLost(t, h.verify(t, w))
}

// checkNothingLost fails the test if res has a lost acknowledged write or
// no acknowledged write at all.
func checkNothingLost(t *testing.T, res localcluster.VerifyResult) {
	t.Helper()
	if res.Lost != 0 {
		ids := res.LostIDs
		if len(ids) > 20 {
			ids = ids[:20]
		}
		t.Errorf("%d acknowledged writes lost (first ids %v)", res.Lost, ids)
	}
	if res.Acked == 0 {
		t.Errorf("no write was acknowledged")
	}
}

// checkOneWriter fails the test for every moment a shows two nodes
// acknowledging writes at once (the first ten are listed).
func checkOneWriter(t *testing.T, a localcluster.Analysis) {
	t.Helper()
	for i, tw := range a.TwoWriters {
		if i == 10 {
			t.Errorf("... %d two-writer moments in all", len(a.TwoWriters))
			break
		}
		t.Errorf("two nodes acknowledged writes at once: %s", tw)
	}
}

// patchConfig applies a JSON merge patch to the dynamic configuration
// through the leader's REST API and waits until every running agent has
// run a cycle with it (see [localcluster.Cluster.PatchConfig]).
func (h *harness) patchConfig(t *testing.T, patch map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	if err := h.c.PatchConfig(ctx, patch); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(patch)
	t.Logf("dynamic configuration patched: %s", body)
}

// timeline returns the cluster timeline from the history key.
func (h *harness) timeline(t *testing.T) int64 {
	t.Helper()
	snap, err := h.c.Snapshot(h.ctx)
	if err != nil {
		t.Fatalf("read DCS: %v", err)
	}
	return snap.Timeline()
}

// requireOnePrimary waits until exactly one running node's PostgreSQL
// accepts writes (pg_is_in_recovery false) and it is want.
func (h *harness) requireOnePrimary(t *testing.T, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	err := localcluster.Poll(ctx, 200*time.Millisecond, func() error {
		var primaries []string
		for _, n := range h.c.Nodes() {
			if !n.Running() {
				continue
			}
			primary, err := isPrimary(ctx, h.c.NodeDSN(n.Name()))
			if err != nil {
				continue // not running (yet): not a primary
			}
			if primary {
				primaries = append(primaries, n.Name())
			}
		}
		if len(primaries) != 1 || primaries[0] != want {
			return fmt.Errorf("writable primaries %v, want only %s", primaries, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isPrimary reports whether the PostgreSQL server at dsn is out of recovery.
func isPrimary(ctx context.Context, dsn string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return false, err
	}
	return !inRecovery, nil
}

// otherNode returns the node that is neither a nor b (three nodes).
func (h *harness) otherNode(t *testing.T, a, b string) string {
	t.Helper()
	for _, n := range h.c.Nodes() {
		if n.Name() != a && n.Name() != b {
			return n.Name()
		}
	}
	t.Fatalf("no node besides %s and %s", a, b)
	return ""
}

// agentPIDs returns every node's agent pid (0 for a stopped agent), in
// node order.
func (h *harness) agentPIDs() []int {
	var pids []int
	for _, n := range h.c.Nodes() {
		pids = append(pids, n.AgentPID())
	}
	return pids
}

// requireAgentsKept fails the test unless the agents still run as the
// processes agents lists (agentPIDs from before a fault): a fault that
// needs no agent restart must not cause one.
func (h *harness) requireAgentsKept(t *testing.T, agents []int) {
	t.Helper()
	if got := h.agentPIDs(); fmt.Sprint(got) != fmt.Sprint(agents) {
		t.Errorf("agents restarted: pids %v before the fault, %v after", agents, got)
	}
}

// waitSyncStandby waits until the sync key, written by leader, names one
// synchronous standby (want, when set) and returns it.
func (h *harness) waitSyncStandby(t *testing.T, leader, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	got := ""
	err := localcluster.Poll(ctx, 100*time.Millisecond, func() error {
		snap, err := h.c.Snapshot(ctx)
		if err != nil {
			return err
		}
		s := snap.Sync
		if s == nil || s.Leader != leader || len(s.SyncStandby) != 1 || (want != "" && s.SyncStandby[0] != want) {
			return fmt.Errorf("sync key %+v, want leader %s and one standby %q", s, leader, want)
		}
		got = s.SyncStandby[0]
		return nil
	})
	if err != nil {
		t.Fatalf("synchronous standby: %v", err)
	}
	return got
}

// requireReplica fails the test unless node name's member key says it
// runs a streaming replica.
func (h *harness) requireReplica(t *testing.T, name string) {
	t.Helper()
	snap, err := h.c.Snapshot(h.ctx)
	if err != nil {
		t.Fatalf("read DCS: %v", err)
	}
	m := snap.Member(name)
	if m == nil || m.IsPrimaryRole() || m.ReplicationState != "streaming" {
		t.Errorf("%s is not a streaming replica: %+v", name, m)
	}
}
