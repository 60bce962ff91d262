package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

func TestOffLeaderWrites(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ack := func(node string, sent, done int) localcluster.Ack {
		return localcluster.Ack{Node: node, Sent: at(sent), At: at(done)}
	}
	events := []localcluster.LeaderEvent{{At: at(1000), Name: ""}, {At: at(2000), Name: "n2"}}
	tests := []struct {
		name string
		acks []localcluster.Ack
		want int
	}{
		{"old leader before the change", []localcluster.Ack{ack("n1", 0, 10), ack("n1", 990, 995)}, 0},
		{"old leader in flight at the expiry", []localcluster.Ack{ack("n1", 995, 1005)}, 0},
		{"old leader after the expiry", []localcluster.Ack{ack("n1", 1200, 1210)}, 1},
		{"new leader seen by the watch just after its ack", []localcluster.Ack{ack("n2", 1950, 1960)}, 0},
		{"new leader long before its key", []localcluster.Ack{ack("n2", 1500, 1510)}, 1},
		{"new leader after its key", []localcluster.Ack{ack("n2", 2100, 2110)}, 0},
		{"a third node", []localcluster.Ack{ack("n3", 2100, 2110)}, 1},
		{"unknown node", []localcluster.Ack{ack("", 2100, 2110)}, 0},
	}
	for _, tt := range tests {
		if got := offLeaderWrites(tt.acks, events, "n1"); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGuideTable(t *testing.T) {
	rep := func(unav, toWrite float64) Rep {
		r := newRep()
		r.Unavailable, r.LeaderToWrite, r.OffLeader = num(unav), num(toWrite), 0
		return r
	}
	var res Result
	for _, sc := range []struct {
		name string
		reps []Rep
	}{
		{"node-crash-guides-checks", []Rep{rep(9.7, 3.6)}},
		{"node-crash-guides-routed", []Rep{rep(6.3, 0.1), rep(6.5, 0.2)}},
	} {
		sr := ScenarioResult{Name: sc.name, Reps: sc.reps}
		summarizeScenario(&sr)
		res.Scenarios = append(res.Scenarios, sr)
	}
	var b bytes.Buffer
	if err := writeGuideTable(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"checks only", "with runtime-API routing", "9.700 (9.700-9.700) n=1", "6.400 (6.300-6.500) n=2", "0.150 (0.100-0.200) n=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "switchover") || strings.Count(out, " - ") < 1 {
		t.Errorf("switchover rows without figures should show '-':\n%s", out)
	}
	b.Reset()
	if err := writeGuideTable(&b, Result{}); err != nil || b.Len() != 0 {
		t.Errorf("no guides' scenarios: %q, %v", b.String(), err)
	}
}
