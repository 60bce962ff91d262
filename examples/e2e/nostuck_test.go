package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
)

// TestNoStuckCluster (issue 13, "no false failover, no stuck cluster") runs
// three faults after which a primary must exist again, each once, on one
// three-node cluster whose agents reach etcd through fault proxies of their
// own (etcdCut):
//
//   - fenced_primary_outranked: only the primary's agent is cut off from
//     etcd (PostgreSQL replication keeps working) for longer than it can
//     ride out, with a replica outranking it (failover_priority): the
//     primary must fence itself before its lease can expire, give the key
//     up, the outranking replica must take over without any agent being
//     restarted, and the old primary must rejoin as a replica once the cut
//     heals;
//   - switchover_wal_receiver_reconnecting: a switchover requested through
//     the REST API right after the candidate's WAL receiver was terminated:
//     it completes or is refused, and either way nothing is lost and one
//     primary remains;
//   - loop_wait_10_node_crash: loop_wait 10 written to the config key
//     through the REST API (as patronictl edit-config does) is clamped with
//     a warning, and a crash of the primary's node is still followed by a
//     failover.
//
// The cluster runs synchronous_mode on: each scenario moves the primary
// while writes are in flight and asserts that no acknowledged write is
// lost. With asynchronous replication a fenced or crashed primary may
// legitimately take the last commits it acknowledged with it (bounded by
// maximum_lag_on_failover; TestCluster's node_crash reports them); in
// synchronous mode only the synchronous standby, which holds every
// acknowledged commit, may be promoted (DESIGN §3 invariant 3), so a lost
// write is a bug. Every scenario also asserts that no two nodes
// acknowledged writes at once, that no node was demoted, promoted or
// restarted beyond the ones the fault concerns, and that the cluster has
// exactly one primary afterwards. The bounds are deadlines for "this never
// happens", not speed goals; the measured times are logged.
func TestNoStuckCluster(t *testing.T) {
	cut := &etcdCut{t: t, proxies: map[int][]*testutil.Proxy{}}
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.DCS = map[string]any{"synchronous_mode": true}
		o.Customize = cut.customize
	})
	scenarios := []struct {
		name string
		run  func(*testing.T, *harness, *etcdCut)
	}{
		{"fenced_primary_outranked", testFencedPrimaryOutranked},
		{"switchover_wal_receiver_reconnecting", testSwitchoverReceiverReconnecting},
		{"loop_wait_10_node_crash", testLoopWaitNodeCrash},
	}
	for _, sc := range scenarios {
		// Each scenario starts by waiting for a healthy cluster (and
		// stops the test if there is none), so the next one runs after a
		// failed one: every result is wanted.
		t.Run(sc.name, func(t *testing.T) { sc.run(t, h, cut) })
	}
}

// testFencedPrimaryOutranked cuts only the primary's agent off from etcd,
// with one replica given a higher failover_priority than the primary and
// the other replica (and the same sync_priority, so that it is also the
// synchronous standby: in synchronous mode only that one may be promoted,
// and the two tags must agree for the priority to decide).
//
// The cut lasts until another node leads, longer than the 3.55 s a primary
// rides out at the defaults: the primary fences itself at s + 4.8 s (s the
// send time of its last good keepalive; GET /primary answers 503 and
// PostgreSQL stops), before its lease can expire at s + 6 s, and gives the
// key up. Asserted: no write acknowledged by the old primary after its key
// was gone and never two nodes acknowledging at once; the outranking
// replica leads and takes writes through HAProxy and directly within 3 ttl
// of the cut (doc.go: about 10 s worst case; 3 ttl is the deadline the etcd
// fault tests use), with no agent restarted; after the cut heals the old
// primary rejoins as a streaming replica; nothing acknowledged is lost.
func testFencedPrimaryOutranked(t *testing.T, h *harness, cut *etcdCut) {
	leader := h.waitHealthy(t)
	snap, err := h.c.Snapshot(h.ctx)
	if err != nil {
		t.Fatalf("read DCS: %v", err)
	}
	// Prefer the replica that is not the synchronous standby yet, so
	// that the tags, not the sync state they found, decide.
	winner := ""
	for _, n := range h.c.Nodes() {
		if n.Name() != leader && n.Running() && (winner == "" || !snap.Sync.IsSync(n.Name())) {
			winner = n.Name()
		}
	}
	if winner == "" {
		t.Fatalf("no replica besides %s", leader)
	}
	bystander := h.otherNode(t, leader, winner)
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	if err := h.c.SetTags(ctx, winner, map[string]any{"failover_priority": 2, "sync_priority": 2}); err != nil {
		t.Fatalf("tag %s: %v", winner, err)
	}
	if got := h.waitHealthy(t); got != leader {
		t.Fatalf("leader %s after restarting the agent of replica %s, want %s", got, winner, leader)
	}
	h.waitSyncStandby(t, leader, winner)
	t.Logf("%s outranks primary %s and %s (failover_priority and sync_priority 2, theirs 1) and is the synchronous standby",
		winner, leader, bystander)

	agents := h.agentPIDs()
	obs := h.observe(t, leader)

	cutAt := time.Now()
	cut.cut(t, h.c.Node(leader))
	healed := false
	t.Cleanup(func() {
		if !healed {
			cut.heal(t, h.c.Node(leader))
		}
	})
	t.Logf("cut the agent of %s off from etcd (its proxies blackhole)", leader)

	// Until another node holds the leader key, note when the old
	// primary's GET /primary stopped answering 200 and when its
	// postmaster stopped.
	bound := 3 * h.ttl
	var fencedAt, stoppedAt time.Time
	newLeader := ""
	wctx, wcancel := context.WithDeadline(h.ctx, cutAt.Add(bound))
	err = localcluster.Poll(wctx, 50*time.Millisecond, func() error {
		if fencedAt.IsZero() && h.c.PrimaryStatus(wctx, leader) != http.StatusOK {
			fencedAt = time.Now()
		}
		if pid, err := h.c.Node(leader).PostmasterPID(); stoppedAt.IsZero() && err == nil && pid == 0 {
			stoppedAt = time.Now()
		}
		name, err := h.c.Leader(wctx)
		if err != nil {
			return err
		}
		if name == "" || name == leader {
			return fmt.Errorf("leader key names %q", name)
		}
		newLeader = name
		return nil
	})
	wcancel()
	if err != nil {
		h.logAgentWarnings(t, cutAt.Add(-time.Second))
		t.Fatalf("stuck: no other node took the leader key within %s of cutting %s off from etcd: %v", bound, leader, err)
	}
	if newLeader != winner {
		t.Errorf("leader key moved to %s, want %s (failover_priority 2, the synchronous standby)", newLeader, winner)
	}
	first, err := obs.WaitWrites(h.ctx, newLeader, cutAt, bound)
	if err != nil {
		t.Errorf("no primary within %s of the cut: %v", bound, err)
	}
	lw := obs.LeaderWatch()
	keyGone, gone := lw.First(cutAt, func(string) bool { return true })
	took, _ := lw.First(cutAt, func(n string) bool { return n == newLeader })
	t.Logf("after the cut: GET /primary on %s not 200 after %s, its postmaster stopped after %s, leader key changed (%q) after %s, %s took it after %s, writes by it through HAProxy and directly after %s",
		leader, since(cutAt, fencedAt), since(cutAt, stoppedAt), keyGone.Name, since(cutAt, keyGone.At), newLeader, since(cutAt, took.At), since(cutAt, first.At))

	healAt := time.Now()
	cut.heal(t, h.c.Node(leader))
	healed = true
	if got := h.waitHealthy(t); got != newLeader {
		t.Errorf("leader %s once the cut healed, want %s", got, newLeader)
	}
	t.Logf("cut healed after %s; %s rejoined as a streaming replica %s later", ms(healAt.Sub(cutAt)), leader, ms(time.Since(healAt)))
	h.requireReplica(t, leader)
	h.requireOnePrimary(t, newLeader)

	rec := h.judge(t, obs, leader, cutAt, healAt, map[string]string{leader: "fenced", newLeader: "promoted"})
	// Fenced before the lease could expire: cut off, the old primary
	// cannot delete its key, which goes when the lease expires; by then
	// it must have stopped acknowledging writes and answering 200 on GET
	// /primary. (The watch receives the deletion a little after it
	// happened, so this errs on the lenient side by milliseconds;
	// FindTwoWriters judged the overlap with the new primary exactly.)
	if !gone {
		t.Errorf("the leader key never changed after the cut")
	} else {
		if last, ok := localcluster.LastAck(localcluster.MergeAcks(rec.Proxy, rec.Direct), leader); ok {
			t.Logf("last write acknowledged by %s %s after the cut, %s before its key was gone", leader, ms(last.At.Sub(cutAt)), ms(keyGone.At.Sub(last.At)))
			if !last.At.Before(keyGone.At) {
				t.Errorf("%s acknowledged write %d at %s, after its leader key was gone (%s)", leader, last.ID, clock(last.At), clock(keyGone.At))
			}
		}
		if fencedAt.IsZero() || !fencedAt.Before(keyGone.At) {
			t.Errorf("GET /primary on %s still answered 200 when its leader key was gone (%s); not 200 first at %s", leader, clock(keyGone.At), clock(fencedAt))
		}
	}
	for _, ev := range lw.Events() {
		if ev.At.After(cutAt) && ev.Name != "" && ev.Name != newLeader {
			t.Errorf("leader key named %s %s after the cut", ev.Name, ms(ev.At.Sub(cutAt)))
		}
	}
	h.requireAgentsKept(t, agents)
	requireTimelineMove(t, rec, leader, newLeader, 1)
	if t.Failed() {
		h.logAgentWarnings(t, cutAt.Add(-time.Second))
	}
}

// testSwitchoverReceiverReconnecting terminates the WAL receiver of the
// synchronous standby (in synchronous mode a switchover must name one) and
// at once asks the primary's REST API for a switchover to it, while the
// receiver reconnects. pgha hands the lease over only once the candidate
// has received WAL past the old primary's shutdown checkpoint; otherwise
// the old primary keeps its term and runs again. Both outcomes are
// accepted (the test logs which); asserted: nothing acknowledged is lost,
// never two nodes acknowledging at once, no node demoted or promoted
// beyond the two the switchover concerns, the timeline moves by one
// exactly when the switchover completed, and one primary afterwards.
func testSwitchoverReceiverReconnecting(t *testing.T, h *harness, _ *etcdCut) {
	leader := h.waitHealthy(t)
	candidate := h.waitSyncStandby(t, leader, "")
	obs := h.observe(t, leader)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	at := time.Now()
	pid, err := h.c.TerminateWALReceiver(ctx, candidate)
	if err != nil || pid == 0 {
		t.Fatalf("terminate the WAL receiver of %s: pid %d, %v", candidate, pid, err)
	}
	reqAt := time.Now()
	ans, err := h.c.RequestSwitchover(ctx, leader, candidate)
	if err != nil {
		t.Fatalf("switchover %s -> %s: %v", leader, candidate, err)
	}
	answeredAt := time.Now()
	t.Logf("terminated %s's WAL receiver (pid %d) and requested a switchover %s -> %s %s later; answer after %s: %d %q",
		candidate, pid, leader, candidate, reqAt.Sub(at), ms(answeredAt.Sub(reqAt)), ans.Status, ans.Message)

	final := h.waitHealthy(t)
	completed := final == candidate
	switch {
	case completed && ans.Status == http.StatusOK:
		t.Logf("outcome: the switchover completed; %s leads", candidate)
	case completed:
		t.Logf("outcome: the switchover completed although the API answered %d; %s leads", ans.Status, candidate)
	case final == leader && ans.Status == http.StatusOK:
		t.Errorf("the API answered 200 but %s still leads", leader)
	case final == leader:
		t.Logf("outcome: the switchover did not complete (%d); %s keeps running as primary", ans.Status, leader)
	default:
		t.Errorf("%s leads after a switchover %s -> %s", final, leader, candidate)
	}
	h.requireOnePrimary(t, final)
	if completed {
		h.requireReplica(t, leader)
	}
	roles := map[string]string{leader: "switched over"}
	if completed {
		roles[candidate] = "promoted"
	}
	rec := h.judge(t, obs, leader, at, time.Now(), roles)
	if !completed {
		restarted := false
		for _, d := range localcluster.Disruptions(rec.States) {
			restarted = restarted || (d.Node == leader && d.Kind == localcluster.Restarted)
		}
		if restarted {
			t.Logf("%s stopped for the hand-over, and restarted in place as primary when %s did not confirm its shutdown checkpoint", leader, candidate)
		} else {
			t.Logf("%s refused the switchover without stopping", leader)
		}
	}
	for _, ev := range obs.LeaderWatch().Events() {
		if ev.At.After(at) && ev.Name != "" && ev.Name != leader && ev.Name != candidate {
			t.Errorf("leader key named %s %s after the request", ev.Name, ms(ev.At.Sub(at)))
		}
	}
	if completed {
		requireTimelineMove(t, rec, leader, candidate, 1)
	} else {
		requireTimelineMove(t, rec, leader, leader, 0)
	}
	if t.Failed() {
		h.logAgentWarnings(t, at.Add(-time.Second))
	}
}

// testLoopWaitNodeCrash writes loop_wait 10 to the config key through the
// leader's REST API (PATCH /config), as an operator used to Patroni's
// defaults would: with ttl 6 that value is out of range, and pgha clamps
// it to ttl/2 = 3 s with a warning (which every agent must log) instead of
// refusing it, which would leave every node without automatic failover
// (DESIGN §3 invariant 7). Then the primary's node crashes (agent and
// postmaster SIGKILLed): the synchronous standby must take the leader key
// and writes through HAProxy and directly within 3 ttl of the crash
// (lease expiry 6 s + the next cycle, at most the clamped loop_wait 3 s +
// peer queries 1 s + acquire and promote: about 11.5 s worst case), no
// agent may log a decision made for invalid settings, and the old node,
// restarted, rejoins as a replica. loop_wait returns to 1 at the end.
func testLoopWaitNodeCrash(t *testing.T, h *harness, _ *etcdCut) {
	leader := h.waitHealthy(t)
	patchAt := time.Now()
	h.patchConfig(t, map[string]any{"loop_wait": 10})
	restored := false
	t.Cleanup(func() {
		if !restored {
			ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
			defer cancel()
			_ = h.c.PatchConfig(ctx, map[string]any{"loop_wait": 1})
		}
	})
	const clampWarning = "loop_wait: 10s is above the maximum"
	for _, n := range h.c.Nodes() {
		line := h.waitLogLine(t, n, patchAt, clampWarning)
		t.Logf("%s: %s", n.Name(), line)
	}
	standby := h.waitSyncStandby(t, leader, "")
	obs := h.observe(t, leader)

	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	faultAt, err := h.c.KillNode(ctx, leader)
	if err != nil {
		t.Fatalf("kill node %s: %v", leader, err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = h.c.StartNode(h.ctx, leader)
		}
	})
	bound := 3 * h.ttl
	wctx, wcancel := context.WithDeadline(h.ctx, faultAt.Add(bound))
	newLeader, _, err := h.c.WaitLeader(wctx, func(n string) bool { return n != "" && n != leader })
	wcancel()
	if err != nil {
		h.logAgentWarnings(t, patchAt)
		t.Fatalf("stuck: no failover within %s of the crash of %s with loop_wait 10 in the config key: %v", bound, leader, err)
	}
	if newLeader != standby {
		t.Errorf("leader key moved to %s, want the synchronous standby %s", newLeader, standby)
	}
	first, err := obs.WaitWrites(h.ctx, newLeader, faultAt, bound)
	if err != nil {
		t.Errorf("no primary within %s of the crash: %v", bound, err)
	}
	lw := obs.LeaderWatch()
	expired, _ := lw.First(faultAt, func(n string) bool { return n == "" })
	took, _ := lw.First(faultAt, func(n string) bool { return n == newLeader })
	t.Logf("node crash of %s with loop_wait clamped to 3 s: lease gone after %s, %s took the key after %s, writes by it through HAProxy and directly after %s",
		leader, since(faultAt, expired.At), newLeader, since(faultAt, took.At), since(faultAt, first.At))
	for _, n := range h.c.Nodes() {
		if lines := h.agentLog(t, n, patchAt, "invalid_settings"); len(lines) > 0 {
			t.Errorf("%s made decisions for invalid settings after loop_wait 10 was written, first: %s", n.Name(), lines[0])
		}
	}

	if err := h.c.StartNode(ctx, leader); err != nil {
		t.Fatalf("restart node %s: %v", leader, err)
	}
	restarted = true
	rejoinFrom := time.Now()
	if got := h.waitHealthy(t); got != newLeader {
		t.Errorf("leader %s after %s rejoined, want %s", got, leader, newLeader)
	}
	t.Logf("%s rejoined as a streaming replica %s after its restart", leader, ms(time.Since(rejoinFrom)))
	h.requireReplica(t, leader)
	h.requireOnePrimary(t, newLeader)
	rec := h.judge(t, obs, leader, faultAt, time.Now(), map[string]string{leader: "crashed", newLeader: "promoted"})
	requireTimelineMove(t, rec, leader, newLeader, 1)
	if t.Failed() {
		h.logAgentWarnings(t, patchAt)
	}
	h.patchConfig(t, map[string]any{"loop_wait": 1})
	restored = true
}

// requireTimelineMove fails the test unless the last PostgreSQL timeline
// recorded on node to is by (the number of promotions) ahead of the first
// one recorded on node from.
func requireTimelineMove(t *testing.T, rec localcluster.Recording, from, to string, by int64) {
	t.Helper()
	var before, after int64
	for _, s := range rec.States {
		if !s.Up {
			continue
		}
		if s.Node == from && before == 0 && s.Timeline > 0 {
			before = s.Timeline
		}
		if s.Node == to {
			after = s.Timeline
		}
	}
	t.Logf("timeline %d on %s before, %d on %s after", before, from, after, to)
	if before == 0 || after != before+by {
		t.Errorf("timeline %d on %s after the fault, %d on %s before: want %d promotion(s)", after, to, before, from, by)
	}
}

// etcdCut gives each node's agent its own loopback TCP fault proxies
// (testutil.Proxy), one in front of every etcd member, so that one agent
// alone can be cut off from etcd while PostgreSQL replication between the
// nodes, the REST APIs, HAProxy and the other agents keep working.
type etcdCut struct {
	t       *testing.T
	mu      sync.Mutex
	proxies map[int][]*testutil.Proxy // by node index
}

// customize is the cluster's Options.Customize: it points node i's
// etcd3.hosts at node i's proxies, the same ones each time the
// configuration is written (SetTags rewrites it).
func (e *etcdCut) customize(i int, cfg map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	etcd3, ok := cfg["etcd3"].(map[string]any)
	if !ok {
		e.t.Fatalf("node %d's configuration has no etcd3 section: %v", i, cfg["etcd3"])
	}
	hosts, ok := etcd3["hosts"].([]string)
	if !ok || len(hosts) == 0 {
		e.t.Fatalf("node %d's etcd3.hosts: %v", i, etcd3["hosts"])
	}
	ps := e.proxies[i]
	if ps == nil {
		for _, host := range hosts {
			ps = append(ps, testutil.NewProxy(e.t, host))
		}
		e.proxies[i] = ps
	}
	addrs := make([]string, 0, len(ps))
	for _, p := range ps {
		addrs = append(addrs, p.Addr())
	}
	etcd3["hosts"] = addrs
}

// nodeProxies returns node n's proxies.
func (e *etcdCut) nodeProxies(t *testing.T, n *localcluster.Node) []*testutil.Proxy {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	ps := e.proxies[n.Index()]
	if len(ps) == 0 {
		t.Fatalf("%s has no etcd proxies", n.Name())
	}
	return ps
}

// cut partitions node n's agent from every etcd member: its proxies
// accept connections but forward nothing, and its open connections stall,
// as a network partition under TCP retransmission does.
func (e *etcdCut) cut(t *testing.T, n *localcluster.Node) {
	t.Helper()
	for _, p := range e.nodeProxies(t, n) {
		p.Blackhole()
	}
}

// heal ends the partition. Connections the proxies accepted while
// blackholed never reached etcd and would stay dead (a real partition
// would have dropped their SYNs, to be retried), so all are reset: the
// agent's client reconnects at once instead of after gRPC's keepalive
// timeout.
func (e *etcdCut) heal(t *testing.T, n *localcluster.Node) {
	t.Helper()
	for _, p := range e.nodeProxies(t, n) {
		p.Pass()
		p.CutConnections()
	}
}
