package e2e_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/internal/testutil"
)

// TestFailsafe runs failsafe mode (failsafe_mode in the config key,
// Patroni's semantics; see the failover package doc) end to end, each
// scenario once, on one three-node cluster whose agents reach the
// three-member etcd through fault proxies of their own (etcdCut), under
// write load through HAProxy and directly on every node:
//
//   - quorum_loss_failsafe_on: two of the three etcd members are killed
//     (etcd loses its quorum) for 2 ttl, then restarted. The primary cannot
//     renew its lease, every member confirms it over POST /failsafe, and it
//     keeps taking writes: no node is demoted, promoted or restarted, the
//     leader key never changes, GET /patroni on the primary reports
//     failsafe_mode_is_active during the outage and its agent logs "failsafe
//     mode active"; once etcd is back the term is bound to its lease again
//     (failsafe_mode_is_active goes false).
//   - quorum_loss_30s_failsafe_on: the same for 30 s, five times the
//     lease's life.
//   - primary_cut_failsafe_on: only the primary's agent is cut off from
//     etcd for 3 ttl; the replicas still reach it and see the leader key
//     expire, but they confirmed the primary and do not race; the primary
//     keeps taking writes and, once the cut heals, creates the leader key
//     again.
//   - replicas_cut_failsafe_on: both replicas' agents are cut off for
//     3 ttl while the primary reaches etcd: nothing happens.
//   - quorum_loss_failsafe_off: the first fault without failsafe mode: the
//     primary stops taking writes before its lease could expire, and the
//     cluster takes writes again once etcd has its quorum (the old primary
//     again or a promoted replica).
//
// Every scenario asserts that no acknowledged write is lost, that never
// two nodes acknowledge writes at once, and that no node is demoted,
// promoted or restarted beyond what the scenario allows. The write gaps and
// the time to writable are logged, not judged: the tests assert conditions
// with deadlines, never durations.
func TestFailsafe(t *testing.T) {
	cut := &etcdCut{t: t, proxies: map[int][]*testutil.Proxy{}}
	h := newHarnessWith(t, func(o *localcluster.Options) { o.Customize = cut.customize })
	scenarios := []struct {
		name     string
		failsafe bool
		run      func(*testing.T, *harness, *etcdCut)
	}{
		{"quorum_loss_failsafe_on", true, func(t *testing.T, h *harness, _ *etcdCut) { testFailsafeQuorumLoss(t, h, 2*h.ttl) }},
		{"quorum_loss_30s_failsafe_on", true, func(t *testing.T, h *harness, _ *etcdCut) { testFailsafeQuorumLoss(t, h, 30*time.Second) }},
		{"primary_cut_failsafe_on", true, testFailsafePrimaryCut},
		{"replicas_cut_failsafe_on", true, testFailsafeReplicasCut},
		// Last: without failsafe mode the fault may move the primary.
		{"quorum_loss_failsafe_off", false, testQuorumLossFailsafeOff},
	}
	for _, sc := range scenarios {
		// Each scenario starts by waiting for a healthy cluster with the
		// mode it needs (and stops the test if there is none), so the
		// next one runs after a failed one: every result is wanted.
		t.Run(sc.name, func(t *testing.T) {
			leader := h.waitHealthy(t)
			h.setFailsafe(t, leader, sc.failsafe)
			sc.run(t, h, cut)
		})
	}
}

// setFailsafe writes failsafe_mode to the config key and, when on, waits
// until leader has written the failsafe key listing every node and serves
// it on GET /failsafe: only then would a primary cut off from etcd know
// whom to ask (without the key it asks the members it last saw).
func (h *harness) setFailsafe(t *testing.T, leader string, on bool) {
	t.Helper()
	h.patchConfig(t, map[string]any{"failsafe_mode": on})
	if on {
		h.waitFailsafeKey(t, leader)
	}
}

// waitFailsafeKey waits until leader has written the failsafe key listing
// every node and serves it on GET /failsafe.
func (h *harness) waitFailsafeKey(t *testing.T, leader string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	start := time.Now()
	if err := h.c.WaitFailsafeKey(ctx, leader); err != nil {
		t.Fatalf("failsafe key: %v", err)
	}
	t.Logf("failsafe key written by %s lists every node (GET /failsafe answers 200 with them) after %s", leader, ms(time.Since(start)))
}

// testFailsafeQuorumLoss kills two of the three etcd members for hold with
// failsafe mode on and requires that nothing happens to the cluster; see
// TestFailsafe.
func testFailsafeQuorumLoss(t *testing.T, h *harness, hold time.Duration) {
	leader := h.waitHealthy(t)
	agents := h.agentPIDs()
	obs := h.observe(t, leader)
	probe := h.probeStatus(t, leader)

	killed, faultAt := h.loseEtcdQuorum(t)
	t.Logf("killed etcd members %v: no quorum; holding %s", killed, ms(hold))
	h.sleepUntil(faultAt.Add(hold))
	restartAt, quorumAt := h.restoreEtcd(t, killed)
	t.Logf("etcd members restarted %s after the kill; quorum (a raft leader) %s later", ms(restartAt.Sub(faultAt)), ms(quorumAt.Sub(restartAt)))

	after := h.waitHealthy(t)
	// GET /primary may answer 200 before PostgreSQL is out of recovery:
	// the recording must run until it is.
	h.requireOnePrimary(t, after)
	healthyAt := time.Now()
	inactive := h.waitFailsafeInactive(t, probe, quorumAt)
	probe.Stop()
	t.Logf("cluster healthy %s after quorum returned, leader %s; failsafe_mode_is_active false on %s %s after quorum returned",
		ms(healthyAt.Sub(quorumAt)), after, leader, since(quorumAt, inactive))
	if after != leader {
		t.Errorf("leader %s after the outage, want %s", after, leader)
	}

	rec := h.judge(t, obs, leader, faultAt, healthyAt, nil)
	logOutageGaps(t, rec, faultAt, quorumAt)
	h.checkFailsafeHeld(t, probe, leader, faultAt, quorumAt)
	checkLeaderKeyUnchanged(t, obs.LeaderWatch(), leader, faultAt)
	h.requireAgentsKept(t, agents)
	if t.Failed() {
		h.logAgentWarnings(t, faultAt.Add(-time.Second))
	}
}

// testQuorumLossFailsafeOff kills two of the three etcd members for 2 ttl
// with failsafe mode off: the primary must stop acknowledging writes
// before its lease could expire (no later than the kill + ttl: its last
// renewal was sent before the kill), and once etcd has a quorum again the
// cluster must take writes again, led by the old primary or a promoted
// replica. How long that took after quorum returned is logged (the goal is
// ttl + 1 s), not judged.
func testQuorumLossFailsafeOff(t *testing.T, h *harness, _ *etcdCut) {
	leader := h.waitHealthy(t)
	agents := h.agentPIDs()
	obs := h.observe(t, leader)
	probe := h.probeStatus(t, leader)

	hold := 2 * h.ttl
	killed, faultAt := h.loseEtcdQuorum(t)
	t.Logf("killed etcd members %v: no quorum; holding %s", killed, ms(hold))
	h.sleepUntil(faultAt.Add(hold))
	restartAt, quorumAt := h.restoreEtcd(t, killed)
	t.Logf("etcd members restarted %s after the kill; quorum (a raft leader) %s later", ms(restartAt.Sub(faultAt)), ms(quorumAt.Sub(restartAt)))

	writable, werr := obs.WaitWrites(h.ctx, "", quorumAt, waitTimeout)
	final := h.waitHealthy(t)
	healthyAt := time.Now()
	probe.Stop()
	if werr != nil {
		t.Errorf("no write acknowledged through HAProxy and directly after quorum returned: %v", werr)
	}

	roles := map[string]string{leader: "fenced"}
	if final != leader {
		roles[final] = "promoted"
		h.requireReplica(t, leader)
	}
	h.requireOnePrimary(t, final)
	rec := h.judge(t, obs, leader, faultAt, healthyAt, roles)
	logOutageGaps(t, rec, faultAt, quorumAt)

	// The fence: the old primary's last acknowledgement during the outage
	// came before its lease could expire. That is no later than the kill
	// + ttl (the last renewal etcd granted was sent before the kill), and
	// etcd without a quorum expires nothing, so this bound is lenient by
	// up to a keepalive interval; FindTwoWriters judged the overlap with
	// any new primary exactly.
	expiry := faultAt.Add(h.ttl)
	var last localcluster.Ack
	for _, a := range localcluster.MergeAcks(rec.Proxy, rec.Direct) {
		if a.Node == leader && a.At.After(faultAt) && a.At.Before(quorumAt) {
			last = a
		}
	}
	stopped, _ := probe.first(faultAt, func(s statusSample) bool { return s.Postmaster == 0 })
	notPrimary, _ := probe.first(faultAt, func(s statusSample) bool { return s.Primary != http.StatusOK })
	t.Logf("fence of %s: last write acknowledged %s after the kill, GET /primary not 200 after %s, postmaster stopped after %s; the lease could expire %s after the kill at the earliest",
		leader, since(faultAt, last.At), since(faultAt, notPrimary.At), since(faultAt, stopped.At), ms(h.ttl))
	if !last.At.IsZero() && !last.At.Before(expiry) {
		t.Errorf("%s acknowledged write %d at %s, %s after the kill, when its lease could have expired (%s after the kill): not fenced in time",
			leader, last.ID, clock(last.At), ms(last.At.Sub(faultAt)), ms(h.ttl))
	}

	outcome := "the same node leads again"
	if final != leader {
		outcome = "failover to " + final
	}
	proxy, _ := localcluster.FirstAck(rec.Proxy, "", quorumAt)
	direct, _ := localcluster.FirstAck(localcluster.MergeAcks(rec.Direct), "", quorumAt)
	verdict := "within"
	if writable.At.IsZero() || writable.At.Sub(quorumAt) > h.ttl+time.Second {
		verdict = "NOT within"
	}
	t.Logf("outcome: %s; writable again %s after quorum returned (%s the goal of ttl + 1 s = %s): first write sent after it acknowledged through HAProxy after %s (by %s), directly after %s (by %s)",
		outcome, since(quorumAt, writable.At), verdict, ms(h.ttl+time.Second), since(quorumAt, proxy.At), proxy.Node, since(quorumAt, direct.At), direct.Node)
	h.logLeaderEvents(t, obs.LeaderWatch(), faultAt)
	h.requireAgentsKept(t, agents)
	if t.Failed() {
		h.logAgentWarnings(t, faultAt.Add(-time.Second))
	}
}

// testFailsafePrimaryCut cuts only the primary's agent off from etcd for
// 3 ttl with failsafe mode on. Its lease expires in etcd and the replicas,
// which still reach etcd, see no leader key; having confirmed the primary
// over POST /failsafe they must not race, and the primary keeps taking
// writes. Once the cut heals the primary must create the leader key again
// (within 3 ttl, a deadline) and its term go back to a lease.
func testFailsafePrimaryCut(t *testing.T, h *harness, cut *etcdCut) {
	leader := h.waitHealthy(t)
	agents := h.agentPIDs()
	obs := h.observe(t, leader)
	probe := h.probeStatus(t, leader)

	hold := 3 * h.ttl
	cutAt := time.Now()
	cut.cut(t, h.c.Node(leader))
	healed := false
	t.Cleanup(func() {
		if !healed {
			cut.heal(t, h.c.Node(leader))
		}
	})
	t.Logf("cut the agent of %s off from etcd for %s", leader, ms(hold))
	h.sleepUntil(cutAt.Add(hold))
	healAt := time.Now()
	cut.heal(t, h.c.Node(leader))
	healed = true

	lw := obs.LeaderWatch()
	bound := 3 * h.ttl
	ctx, cancel := context.WithDeadline(h.ctx, healAt.Add(bound))
	var back localcluster.LeaderEvent
	err := localcluster.Poll(ctx, 50*time.Millisecond, func() error {
		// The cut agent cannot write: a put naming it after the cut is
		// the key created again.
		ev, ok := lw.First(cutAt, func(n string) bool { return n == leader })
		if !ok {
			return fmt.Errorf("the leader key does not name %s again", leader)
		}
		back = ev
		return nil
	})
	cancel()
	if err != nil {
		t.Errorf("the leader key did not name %s again within %s of healing the cut: %v", leader, ms(bound), err)
	}
	after := h.waitHealthy(t)
	h.requireOnePrimary(t, after)
	healthyAt := time.Now()
	inactive := h.waitFailsafeInactive(t, probe, healAt)
	probe.Stop()
	gone, expired := lw.First(cutAt, func(n string) bool { return n == "" })
	t.Logf("leader key gone (lease expired) %s after the cut, named %s again %s after the heal; cluster healthy %s after the heal, leader %s; failsafe_mode_is_active false %s after the heal",
		since(cutAt, gone.At), leader, since(healAt, back.At), ms(healthyAt.Sub(healAt)), after, since(healAt, inactive))
	if after != leader {
		t.Errorf("leader %s once the cut healed, want %s", after, leader)
	}
	if !expired {
		t.Errorf("the leader key did not expire while %s was cut off from etcd: the scenario did not happen", leader)
	}
	for _, ev := range lw.Events() {
		if ev.At.After(cutAt) && ev.Name != "" && ev.Name != leader {
			t.Errorf("leader key named %s %s after the cut", ev.Name, ms(ev.At.Sub(cutAt)))
		}
	}

	rec := h.judge(t, obs, leader, cutAt, healthyAt, nil)
	logOutageGaps(t, rec, cutAt, healAt)
	h.checkFailsafeHeld(t, probe, leader, cutAt, healAt)
	if lines := h.agentLog(t, h.c.Node(leader), cutAt, "took the leader key again"); len(lines) > 0 {
		t.Logf("%s: %s", leader, lines[0])
	}
	for _, n := range h.c.Nodes() {
		if n.Name() == leader {
			continue
		}
		asked := h.agentLog(t, n, cutAt, "path=/failsafe")
		held := h.agentLog(t, n, cutAt, "code=failsafe_leader")
		t.Logf("%s: %d POST /failsafe requests and %d decisions failsafe_leader (not racing) logged since the cut", n.Name(), len(asked), len(held))
	}
	h.requireAgentsKept(t, agents)
	if t.Failed() {
		h.logAgentWarnings(t, cutAt.Add(-time.Second))
	}
}

// testFailsafeReplicasCut cuts both replicas' agents off from etcd for
// 3 ttl with failsafe mode on while the primary still reaches it: nothing
// may happen, and the primary must not go into failsafe mode (it renews
// its lease). The failsafe key the primary keeps follows the member keys,
// which expire with the replicas' leases; it is logged, and required to
// list every node again once the cut heals.
func testFailsafeReplicasCut(t *testing.T, h *harness, cut *etcdCut) {
	leader := h.waitHealthy(t)
	var replicas []*localcluster.Node
	for _, n := range h.c.Nodes() {
		if n.Name() != leader {
			replicas = append(replicas, n)
		}
	}
	agents := h.agentPIDs()
	obs := h.observe(t, leader)
	probe := h.probeStatus(t, leader)

	hold := 3 * h.ttl
	cutAt := time.Now()
	for _, n := range replicas {
		cut.cut(t, n)
	}
	healed := false
	t.Cleanup(func() {
		if !healed {
			for _, n := range replicas {
				cut.heal(t, n)
			}
		}
	})
	t.Logf("cut the agents of %s and %s off from etcd for %s", replicas[0].Name(), replicas[1].Name(), ms(hold))
	h.sleepUntil(cutAt.Add(hold))
	if snap, err := h.c.Snapshot(h.ctx); err == nil {
		t.Logf("at the end of the cut: failsafe key lists %v, member keys %d", slices.Sorted(maps.Keys(snap.Failsafe)), len(snap.Members))
	}
	healAt := time.Now()
	for _, n := range replicas {
		cut.heal(t, n)
	}
	healed = true

	after := h.waitHealthy(t)
	h.requireOnePrimary(t, after)
	healthyAt := time.Now()
	probe.Stop()
	t.Logf("cluster healthy %s after the heal, leader %s", ms(healthyAt.Sub(healAt)), after)
	if after != leader {
		t.Errorf("leader %s once the cut healed, want %s", after, leader)
	}
	h.waitFailsafeKey(t, leader) // the replicas' member keys are back

	h.judge(t, obs, leader, cutAt, healthyAt, nil)
	checkLeaderKeyUnchanged(t, obs.LeaderWatch(), leader, cutAt)
	if s, ok := probe.first(cutAt, func(s statusSample) bool { return s.Failsafe }); ok {
		t.Errorf("%s reported failsafe_mode_is_active at %s, %s after the cut, though it reached etcd", leader, clock(s.At), ms(s.At.Sub(cutAt)))
	}
	if probes, notOK := probe.count(cutAt, healAt, func(s statusSample) bool { return s.Primary != http.StatusOK }); notOK > 0 {
		t.Errorf("GET /primary on %s did not answer 200 in %d of %d probes during the cut", leader, notOK, probes)
	}
	h.requireAgentsKept(t, agents)
	if t.Failed() {
		h.logAgentWarnings(t, cutAt.Add(-time.Second))
	}
}

// loseEtcdQuorum kills etcd's raft leader and one other member, which
// leaves one of three: no quorum, no leader, no request served. It returns
// the members killed and the time just before the first kill; they are
// restarted at the end of the test at the latest.
func (h *harness) loseEtcdQuorum(t *testing.T) ([]int, time.Time) {
	t.Helper()
	e := h.c.Etcd()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	killed, at, err := e.LoseQuorum(ctx, 2)
	t.Cleanup(func() {
		for _, i := range killed {
			if !e.Running(i) {
				_ = e.Restart(h.ctx, i)
			}
		}
	})
	if err != nil {
		t.Fatalf("lose etcd's quorum: %v", err)
	}
	return killed, at
}

// restoreEtcd restarts the members loseEtcdQuorum killed. It returns when
// the first restart began and when etcd had a quorum (a raft leader) again.
func (h *harness) restoreEtcd(t *testing.T, killed []int) (restartAt, quorumAt time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	restartAt, quorumAt, err := h.c.Etcd().RestoreQuorum(ctx, killed)
	if err != nil {
		t.Fatalf("restore etcd's quorum: %v", err)
	}
	return restartAt, quorumAt
}

// sleepUntil waits until at or the end of the test.
func (h *harness) sleepUntil(at time.Time) {
	select {
	case <-time.After(time.Until(at)):
	case <-h.ctx.Done():
	}
}

// checkFailsafeHeld fails the test unless the primary's GET /patroni
// reported failsafe_mode_is_active during the outage [from, until] and
// its agent logged that failsafe mode became active; it logs how GET
// /primary answered meanwhile.
func (h *harness) checkFailsafeHeld(t *testing.T, probe *statusProbe, leader string, from, until time.Time) {
	t.Helper()
	first, ok := probe.first(from, func(s statusSample) bool { return s.Failsafe })
	if !ok || !first.At.Before(until) {
		t.Errorf("GET /patroni on %s never reported failsafe_mode_is_active during the outage", leader)
	}
	var last time.Time
	for _, s := range probe.samples() {
		if s.Failsafe && s.At.After(from) {
			last = s.At
		}
	}
	probes, notOK := probe.count(from, until, func(s statusSample) bool { return s.Primary != http.StatusOK })
	t.Logf("%s: failsafe_mode_is_active first %s, last %s after the fault; GET /primary not 200 in %d of %d probes during the outage",
		leader, since(from, first.At), since(from, last), notOK, probes)
	lines := h.agentLog(t, h.c.Node(leader), from, "failsafe mode active")
	if len(lines) == 0 {
		t.Errorf("%s did not log %q after the fault", leader, "failsafe mode active")
	} else {
		t.Logf("%s: %s", leader, lines[0])
	}
}

// waitFailsafeInactive waits until the probe saw failsafe_mode_is_active
// false after at (the term is bound to its lease again) and returns when.
func (h *harness) waitFailsafeInactive(t *testing.T, probe *statusProbe, at time.Time) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	var s statusSample
	err := localcluster.Poll(ctx, 50*time.Millisecond, func() error {
		var ok bool
		if s, ok = probe.first(at, func(s statusSample) bool { return s.PatroniOK && !s.Failsafe }); !ok {
			return fmt.Errorf("failsafe_mode_is_active still true")
		}
		return nil
	})
	if err != nil {
		t.Errorf("the term did not go back to its lease: %v", err)
	}
	return s.At
}

// checkLeaderKeyUnchanged fails the test for every change of the leader
// key after at: the fault needed none.
func checkLeaderKeyUnchanged(t *testing.T, lw *localcluster.LeaderWatch, leader string, at time.Time) {
	t.Helper()
	for _, ev := range lw.Events() {
		if ev.At.After(at) {
			t.Errorf("leader key changed to %q %s after the fault (it named %s)", ev.Name, ms(ev.At.Sub(at)), leader)
		}
	}
}

// logLeaderEvents logs the leader key's changes after at.
func (h *harness) logLeaderEvents(t *testing.T, lw *localcluster.LeaderWatch, at time.Time) {
	t.Helper()
	var parts []string
	for _, ev := range lw.Events() {
		if ev.At.After(at) {
			name := ev.Name
			if name == "" {
				name = "(deleted)"
			}
			parts = append(parts, fmt.Sprintf("%s after %s", name, ms(ev.At.Sub(at))))
		}
	}
	t.Logf("leader key changes after the fault: %v", parts)
}

// logOutageGaps logs the longest write gaps within the outage [from,
// until], through HAProxy and directly.
func logOutageGaps(t *testing.T, rec localcluster.Recording, from, until time.Time) {
	t.Helper()
	proxy, _ := localcluster.LongestGap(rec.Proxy, from, until)
	direct, _ := localcluster.LongestGap(localcluster.MergeAcks(rec.Direct), from, until)
	t.Logf("longest write gap during the %s outage: %s through HAProxy (from %s), %s directly (from %s)",
		ms(until.Sub(from)), ms(proxy.Duration()), since(from, proxy.LastBefore), ms(direct.Duration()), since(from, direct.LastBefore))
}

// apiClient reads the nodes' REST APIs (loopback: no proxy).
var apiClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// apiGet returns the status and body of GET path on node n's REST API,
// bounded by a second.
func apiGet(ctx context.Context, n *localcluster.Node, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, []byte(strings.TrimSpace(string(body))), err
}
