package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// TestNoFalseFailover loses one etcd member of three under write load, on
// a cluster whose members run etcd's own raft timings (100 ms heartbeat,
// 1 s election timeout, as stock etcd members do): etcd keeps its quorum,
// so no failover is needed. Two scenarios, each once:
//
//   - etcd_raft_leader_killed: etcd's raft leader is killed while the
//     primary's agent keeps its watch on another member;
//   - etcd_primary_member_killed: the member the primary's agent talks to
//     (keeps its watch on; see localcluster.AgentEtcdMember) is made raft
//     leader with MoveLeader, then killed.
//
// Each asserts that the leader key never changes, that no node is demoted,
// promoted or restarted and no timeline changes, that no acknowledged
// write is lost, that no two nodes acknowledge writes at once (a writer
// through HAProxy and one directly on every node record which node
// acknowledged each write), and that writes are acknowledged through
// HAProxy and directly within a bound of the fault (3 ttl, a deadline
// that even a false failover meets, not a speed goal). The longest write
// gaps are logged, not judged.
func TestNoFalseFailover(t *testing.T) {
	h := newHarnessWith(t, func(o *localcluster.Options) {
		o.EtcdHeartbeat, o.EtcdElection = localcluster.StockEtcdHeartbeat, localcluster.StockEtcdElection
	})
	scenarios := []struct {
		name  string
		fault localcluster.EtcdFault
	}{
		{"etcd_raft_leader_killed", localcluster.EtcdLeaderFault},
		{"etcd_primary_member_killed", localcluster.EtcdPrimaryMemberFault},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { testNoFailoverEtcdFault(t, h, sc.fault) })
		// Each scenario restores health before it ends (or stops the
		// test), so the next one runs even after a failed one: both
		// results are wanted.
	}
}

// testNoFailoverEtcdFault runs one fault of TestNoFalseFailover
// (localcluster.RunEtcdFault) and judges it; a probe of the primary's GET
// /primary and postmaster covers the whole run too.
func testNoFailoverEtcdFault(t *testing.T, h *harness, fault localcluster.EtcdFault) {
	leader := h.waitHealthy(t)
	pid, err := h.c.Node(leader).PostmasterPID()
	if err != nil || pid == 0 {
		t.Fatalf("postmaster of %s: pid %d, %v", leader, pid, err)
	}
	probe := h.probePrimary(t, leader, pid)
	run, err := h.c.RunEtcdFault(h.ctx, leader, fault, localcluster.EtcdFaultOptions{Timeout: waitTimeout})
	probe.Stop()
	p := run.Plan
	if p.Victim >= 0 && !run.FaultAt.IsZero() {
		moved := "it already led"
		if p.MovedFrom >= 0 {
			moved = fmt.Sprintf("MoveLeader from member %d", p.MovedFrom)
		}
		t.Logf("%s: the agent of %s keeps its watch on etcd member %d (long-lived streams per member %v); killed member %d, raft leader (%s); etcd had a leader again %s later",
			fault, leader, p.AgentMember, p.AgentStreams, p.Victim, moved, ms(run.EtcdLeaderAfter))
	}
	if err != nil {
		h.logAgentWarnings(t, time.Now().Add(-time.Minute))
		t.Fatalf("run %s: %v", fault, err)
	}
	a := run.Analysis
	t.Logf("longest write gap in the %s after the kill: %s through HAProxy, %s directly; %d failed attempts through HAProxy, %d direct (mostly the read-only replicas refusing)",
		ms(run.Until.Sub(run.FaultAt)), ms(a.ProxyGap.Duration()), ms(a.DirectGap.Duration()), run.ProxyErrors, run.DirectErrors)
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost", run.Verify.Acked, run.Verify.Found, run.Verify.Primary, run.Verify.Lost)

	failed := false
	if !run.WritesOK {
		failed = true
		t.Errorf("no primary within %s of the fault: no write sent after it was acknowledged through HAProxy and directly", run.Bound)
	}
	for _, ev := range a.LeaderChanges {
		failed = true
		t.Errorf("false failover: leader key changed from %s to %q %s after the kill", leader, ev.Name, ms(ev.At.Sub(run.FaultAt)))
	}
	for _, d := range a.Disruptions {
		failed = true
		t.Errorf("%s %s after the kill: %s", d.Kind, ms(d.At.Sub(run.FaultAt)), d)
	}
	if probes, bad, first := probe.Result(); bad > 0 {
		failed = true
		t.Errorf("primary %s stopped serving as primary: %d of %d probes failed, first at %s", leader, bad, probes, first)
	}
	if run.TimelineAfter != run.Timeline {
		failed = true
		t.Errorf("cluster timeline changed from %d to %d", run.Timeline, run.TimelineAfter)
	}
	if run.LeaderAfter != leader {
		t.Errorf("leader %s after the fault, want %s", run.LeaderAfter, leader)
	}
	checkOneWriter(t, a)
	checkNothingLost(t, run.Verify)
	if failed {
		h.logAgentWarnings(t, run.FaultAt.Add(-time.Second))
	}
}

// logAgentWarnings logs every agent's WARN and ERROR lines since since
// (at most 60 per agent): what the agents said about a failure.
func (h *harness) logAgentWarnings(t *testing.T, since time.Time) {
	for _, n := range h.c.Nodes() {
		lines, err := agentLogLines(n, since, func(line string) bool {
			return strings.Contains(line, " level=WARN ") || strings.Contains(line, " level=ERROR ")
		})
		if err != nil {
			t.Logf("log of %s: %v", n.Name(), err)
			continue
		}
		if len(lines) > 60 {
			lines = lines[:60]
		}
		t.Logf("---- %s: %d warnings and errors since %s ----\n%s", n.Name(), len(lines), since.Format("15:04:05.000"), strings.Join(lines, "\n"))
	}
}

// agentLogLines returns the lines of node n's agent log that match and
// were not logged before since (lines without a time are kept).
func agentLogLines(n *localcluster.Node, since time.Time, match func(line string) bool) ([]string, error) {
	f, err := os.Open(n.LogPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !match(line) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && at.Before(since) {
			continue
		}
		lines = append(lines, line)
	}
	return lines, sc.Err()
}

// agentLog returns node n's agent log lines since since that contain s.
func (h *harness) agentLog(t *testing.T, n *localcluster.Node, since time.Time, s string) []string {
	t.Helper()
	lines, err := agentLogLines(n, since, func(line string) bool { return strings.Contains(line, s) })
	if err != nil {
		t.Fatalf("log of %s: %v", n.Name(), err)
	}
	return lines
}

// waitLogLine waits until node n's agent has logged a line containing s
// since since, and returns the first one.
func (h *harness) waitLogLine(t *testing.T, n *localcluster.Node, since time.Time, s string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	var line string
	err := localcluster.Poll(ctx, 100*time.Millisecond, func() error {
		lines := h.agentLog(t, n, since, s)
		if len(lines) == 0 {
			return fmt.Errorf("%s logged no %q since %s", n.Name(), s, since.Format("15:04:05.000"))
		}
		line = lines[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return line
}
