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
		Idle: &Idle{Seconds: 60, Agents: []AgentIdle{{Name: "node1", CPUSeconds: 0.6, RSSMB: 20, MaxRSSMB: 21}}}}

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
		"agent-stop #1: old primary stopped 4.300 s, new leader 6.100 s (node1 -> node3); unavailable 3.900 s via HAProxy, 1.800 s direct; two-writer moments 0, lost 0 of 2700"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}
