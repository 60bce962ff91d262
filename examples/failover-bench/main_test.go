package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"odd", []float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}},
		{"even", []float64{4, 1, 2, 3}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{"nan ignored", []float64{nan, 5, nan}, Summary{N: 1, Median: 5, Min: 5, Max: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.in); got != tt.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	if got := summarize([]float64{nan}); got.N != 0 || !math.IsNaN(got.Median) {
		t.Errorf("summarize(NaN) = %+v, want N 0 and NaN figures", got)
	}
}

func TestProcStat(t *testing.T) {
	pid := os.Getpid()
	rss, err := rssBytes(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("rssBytes(self) = %d, %v", rss, err)
	}
	cpu, err := cpuSeconds(pid)
	if err != nil || cpu < 0 {
		t.Fatalf("cpuSeconds(self) = %v, %v", cpu, err)
	}
	if _, err := rssBytes(-1); err == nil {
		t.Error("rssBytes(-1): no error")
	}
	m := machine()
	if m.CPUs < 1 || m.Kernel == "" || m.MemoryGB <= 0 {
		t.Errorf("machine() = %+v", m)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{nil, "", func(o options) bool {
			return o.reps == 3 && len(o.scenarios) == len(scenarios()) && o.idle == time.Minute && o.etcdTiming == "stock"
		}},
		{[]string{"-etcd-timing", "fast", "-scenarios", "etcd-primary-member"}, "", func(o options) bool {
			return o.etcdTiming == "fast" && strings.Join(o.scenarios, ",") == "etcd-primary-member"
		}},
		{[]string{"-etcd-timing", "slow"}, "-etcd-timing must be", nil},
		{[]string{"-scenarios", "etcd-quorum-loss,etcd-quorum-loss-failsafe,etcd-quorum-loss-30s,etcd-quorum-loss-30s-failsafe", "-idle", "0"}, "", func(o options) bool {
			return len(o.scenarios) == 4 && o.idle == 0
		}},
		{[]string{"-n", "5", "-scenarios", "switchover, node-crash,switchover"}, "", func(o options) bool {
			return o.reps == 5 && strings.Join(o.scenarios, ",") == "switchover,node-crash"
		}},
		{[]string{"-n", "0"}, "-n must be", nil},
		{[]string{"-idle", "-1s"}, "-idle must not", nil},
		{[]string{"-scenarios", "meteor"}, `unknown scenario "meteor"`, nil},
		{[]string{"-writer-timeout", "0s"}, "-writer-timeout must", nil},
		{[]string{"extra"}, "unexpected arguments", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("parseFlags(%q) = %+v, %v", tt.args, o, err)
			}
		})
	}
}

func TestReport(t *testing.T) {
	rep := newRep()
	rep.Unavailable, rep.Leader = 1.25, "node1"
	sr := ScenarioResult{Name: "pg-crash", Reps: []Rep{rep, {Error: "boom"}}}
	summarizeScenario(&sr)
	// An etcd fault scenario: one clean run, one false failover.
	clean, bad := newRep(), newRep()
	clean.Unavailable, clean.DirectUnavailable, clean.Demotions, clean.TwoWriters = 0.08, 0.09, 0, 0
	bad.Unavailable, bad.DirectUnavailable, bad.Demotions, bad.TwoWriters = 7.5, 7.25, 1, 3
	bad.LeaderChanged, bad.Demoted, bad.TimelineChanged, bad.Leader, bad.NewLeaderName = true, true, true, "node1", "node2"
	bad.Detail = "killed member 0"
	etcdSR := ScenarioResult{Name: "etcd-primary-member", Reps: []Rep{clean, bad}}
	summarizeScenario(&etcdSR)
	if etcdSR.LeaderChanges != 1 || etcdSR.Demotions != 1 || etcdSR.TimelineChanges != 1 || etcdSR.TwoWriters.Max != 3 {
		t.Errorf("etcd scenario summary = %+v", etcdSR)
	}
	// An agent fault scenario: the fence stopped the old primary first.
	fenced := newRep()
	fenced.Unavailable, fenced.DirectUnavailable, fenced.OldStopped, fenced.NewLeader, fenced.TwoWriters = 3.9, 1.8, 4.3, 6.1, 0
	fenced.LeaderChanged, fenced.Leader, fenced.NewLeaderName, fenced.Acked = true, "node1", "node3", 2700
	agentSR := ScenarioResult{Name: "agent-stop", Reps: []Rep{fenced}}
	summarizeScenario(&agentSR)
	if agentSR.OldStopped.N != 1 || agentSR.OldStopped.Median != 4.3 || agentSR.LeaderChanges != 1 {
		t.Errorf("agent scenario summary = %+v", agentSR)
	}
	r := Result{Machine: machine(), Settings: Settings{Repetitions: 2}, Scenarios: []ScenarioResult{sr, etcdSR, agentSR},
		Idle: &Idle{Seconds: 60, Agents: []AgentIdle{{Name: "node1", CPUSeconds: 0.6, RSSMB: 20, MaxRSSMB: 21}},
			Etcd: EtcdRate{PerSecond: 3.5, ByMethod: map[string]float64{"LeaseKeepAlive": 3, "Range": 0.5}}}}

	var js bytes.Buffer
	if err := writeJSON(&js, r); err != nil {
		t.Fatalf("writeJSON: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, js.String())
	}
	if !strings.Contains(js.String(), `"new_leader_s": null`) {
		t.Errorf("NaN not written as null:\n%s", js.String())
	}

	var txt bytes.Buffer
	if err := writeText(&txt, r); err != nil {
		t.Fatalf("writeText: %v", err)
	}
	for _, want := range []string{"pg-crash", "1.250", "pg-crash #2 failed: boom", "node1",
		"write unavailability direct (s)", "two-writer moments per run", "1/1/1/0",
		"etcd-primary-member #2: unavailable 7.500 s via HAProxy, 7.250 s direct; false failover true (node1 -> node2), demotions 1",
		"old primary stopped (s)", "runs with failover / error",
		"etcd requests of the idle cluster: 3.50/s (LeaseKeepAlive 3.00, Range 0.50)",
		"agent-stop #1: old primary stopped 4.300 s, new leader 6.100 s (node1 -> node3); unavailable 3.900 s via HAProxy, 1.800 s direct; two-writer moments 0, lost 0 of 2700"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}

func TestQuorumLossScenarios(t *testing.T) {
	want := map[string]bool{ // name: failsafe on
		"etcd-quorum-loss": false, "etcd-quorum-loss-failsafe": true,
		"etcd-quorum-loss-30s": false, "etcd-quorum-loss-30s-failsafe": true,
	}
	seen := 0
	for _, sc := range scenarios() {
		on, ok := want[sc.Name]
		if !ok {
			continue
		}
		seen++
		// Every one sets failsafe_mode itself, so the order they run in
		// does not matter; the failsafe ones switch it off again.
		if sc.setup == nil || sc.run == nil || (sc.teardown != nil) != on {
			t.Errorf("%s: setup %v, teardown %v, run %v", sc.Name, sc.setup != nil, sc.teardown != nil, sc.run != nil)
		}
		if !(ScenarioResult{Name: sc.Name}).quorumLoss() {
			t.Errorf("%s is not reported as a quorum loss scenario", sc.Name)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d quorum loss scenarios listed", seen, len(want))
	}
}

func TestQuorumLossReport(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ack := func(s float64, node string) localcluster.Ack {
		return localcluster.Ack{Sent: at(s - 0.01), At: at(s), Node: node}
	}
	// Failsafe off: the old primary fenced, node2 took over 6.5 s after
	// the quorum came back at 12.
	off := localcluster.QuorumLossRun{
		Leader: "node1", LeaderAfter: "node2", Timeline: 1, TimelineAfter: 2, Killed: []int{0, 1},
		FaultAt: at(0), RestartAt: at(12), QuorumAt: at(12.5), Until: at(24.5), HealthyAt: at(26),
		FirstProxy: ack(19.5, "node2"), FirstDirect: ack(19, "node2"),
		Analysis: localcluster.Analysis{
			ProxyGap: localcluster.Gap{LastBefore: at(4), FirstAfter: at(19)}, DirectGap: localcluster.Gap{LastBefore: at(4.2), FirstAfter: at(19)},
			Disruptions: []localcluster.Disruption{{At: at(5), Node: "node1", Kind: localcluster.Demoted}, {At: at(18), Node: "node2", Kind: localcluster.Promoted},
				{At: at(18), Node: "node2", Kind: localcluster.NewTimeline}},
			LeaderChanges: []localcluster.LeaderEvent{{At: at(13), Name: ""}, {At: at(18), Name: "node2"}},
		},
		LeaderEvents: []localcluster.LeaderEvent{{At: at(13), Name: ""}, {At: at(13.1), Name: "node1"}, {At: at(13.2), Name: ""}, {At: at(18), Name: "node2"}},
		OldLastAck:   ack(4, "node1"),
		Verify:       localcluster.VerifyResult{Acked: 3000},
	}
	// Failsafe on: nothing happened.
	on := localcluster.QuorumLossRun{
		Leader: "node1", LeaderAfter: "node1", Timeline: 1, TimelineAfter: 1, Killed: []int{2, 0},
		FaultAt: at(0), QuorumAt: at(12.4), Until: at(24.4), HealthyAt: at(12.6),
		FirstProxy: ack(12.42, "node1"), FirstDirect: ack(12.41, "node1"), FailsafeActive: at(4.6), FailsafeInactive: at(13),
		Analysis: localcluster.Analysis{ProxyGap: localcluster.Gap{LastBefore: at(3), FirstAfter: at(3.1)}, DirectGap: localcluster.Gap{LastBefore: at(3), FirstAfter: at(3.05)}},
		Verify:   localcluster.VerifyResult{Acked: 5000},
	}
	var sr []ScenarioResult
	for _, c := range []struct {
		name     string
		run      localcluster.QuorumLossRun
		failsafe bool
	}{{"etcd-quorum-loss", off, false}, {"etcd-quorum-loss-failsafe", on, true}} {
		rep := newRep()
		rep.quorumLoss, rep.Leader = true, c.run.Leader
		rep.Detail = quorumLossDetail(c.run, c.failsafe)
		fillQuorumLoss(&rep, c.run)
		r := ScenarioResult{Name: c.name, Reps: []Rep{rep}}
		summarizeScenario(&r)
		sr = append(sr, r)
	}
	if s := sr[0]; s.QuorumToProxyWrite.Median != 7 || s.QuorumToDirectWrite.Median != 6.5 || s.Unavailable.Median != 15 ||
		s.LeaderChanges != 1 || s.Demotions != 1 || s.Promotions != 1 || s.TimelineChanges != 1 || s.NewLeader.Median != 18 {
		t.Errorf("failsafe off summary = %+v", s)
	}
	if s := sr[1]; s.LeaderChanges != 0 || s.Demotions != 0 || s.Promotions != 0 || s.TimelineChanges != 0 || s.NewLeader.N != 0 || s.DemotionCount.Max != 0 {
		t.Errorf("failsafe on summary = %+v", s)
	}

	var txt bytes.Buffer
	if err := writeText(&txt, Result{Machine: machine(), Settings: Settings{Repetitions: 1}, Scenarios: sr}); err != nil {
		t.Fatalf("writeText: %v", err)
	}
	for _, want := range []string{"write gap via HAProxy, outage + 2 ttl (s)", "quorum back -> first write via HAProxy (s)", "7.000", "promotions per run",
		"runs with leader key change / demotion / promotion / new timeline / error", "1/1/1/1/0", "0/0/0/0/0",
		"etcd-quorum-loss #1: write gap 15.000 s via HAProxy, 14.800 s direct; quorum back -> first write 7.000 s via HAProxy, 6.500 s direct; leader node1, failover to node2",
		"last write by node1 before quorum 4.000 s after the kill",
		"leader key after the kill: deleted 13.000 s, node1 13.100 s, deleted 13.200 s, node2 18.000 s",
		"etcd-quorum-loss-failsafe #1: write gap 0.100 s via HAProxy",
		"failsafe active 4.600 s after the kill, inactive 0.600 s after quorum"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
	var js bytes.Buffer
	if err := writeJSON(&js, Result{Scenarios: sr}); err != nil || !strings.Contains(js.String(), `"quorum_to_first_write_proxy_s"`) {
		t.Errorf("JSON (%v) lacks the quorum figures:\n%s", err, js.String())
	}
}
