package localcluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ms is t0 plus n milliseconds.
func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// ack is write id sent at sent ms and acknowledged by node at acked ms.
func ack(id int64, node string, sent, acked int) Ack {
	return Ack{ID: id, Node: node, Sent: ms(sent), At: ms(acked)}
}

func TestLostWrites(t *testing.T) {
	acks := []Ack{ack(1, "n1", 0, 1), ack(2, "n1", 10, 11), ack(3, "n1", 20, 21), ack(4, "n2", 30, 31)}
	tests := []struct {
		name string
		have []int64
		want []int64
	}{
		{"all there", []int64{1, 2, 3, 4, 99}, nil},
		{"rewound tail of the old primary", []int64{1, 2, 4}, []int64{3}},
		{"nothing there", nil, []int64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := map[int64]bool{}
			for _, id := range tt.have {
				have[id] = true
			}
			if got := LostWrites(acks, have); !slices.Equal(got, tt.want) {
				t.Errorf("LostWrites = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergeAcks(t *testing.T) {
	a := []Ack{ack(1, "n1", 0, 5), ack(3, "n1", 10, 20)}
	b := []Ack{ack(2, "n2", 1, 5), ack(4, "n2", 12, 15)}
	got := MergeAcks(a, b)
	var ids []int64
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	// 1 and 2 tie on At: the earlier send comes first.
	if want := []int64{1, 2, 4, 3}; !slices.Equal(ids, want) {
		t.Errorf("MergeAcks order = %v, want %v", ids, want)
	}
	if a[0].ID != 1 || a[1].ID != 3 {
		t.Errorf("MergeAcks changed its input: %v", a)
	}
}

func TestFindTwoWriters(t *testing.T) {
	tests := []struct {
		name string
		acks []Ack
		// want is "kind:earlier id>later id" per moment.
		want []string
	}{
		{
			name: "one primary, two writers",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "n1", 1, 3), ack(3, "n1", 10, 12), ack(4, "n1", 11, 13)},
		},
		{
			name: "clean failover: the old primary stops, seconds later the new one acknowledges",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "n1", 10, 12), ack(3, "n2", 5000, 5002), ack(4, "n2", 5010, 5012)},
		},
		{
			name: "two failovers to new nodes",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "n2", 5000, 5002), ack(3, "n3", 9000, 9002)},
		},
		{
			name: "unknown node ignored",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "", 1, 3), ack(3, "n1", 10, 12)},
		},
		{
			name: "windows overlap: the old primary acknowledged after the new one had received a write",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "n1", 10, 30), ack(3, "n2", 20, 25)},
			want: []string{"overlap:3>2"},
		},
		{
			name: "touching windows do not overlap",
			acks: []Ack{ack(1, "n1", 0, 20), ack(2, "n2", 20, 25)},
		},
		{
			name: "interleaved: n1, then n2, then n1 again",
			acks: []Ack{ack(1, "n1", 0, 2), ack(2, "n2", 100, 102), ack(3, "n1", 200, 202)},
			want: []string{"interleave:2>3"},
		},
		{
			name: "both write for a while: every switch is flagged",
			acks: []Ack{
				ack(1, "n1", 0, 2), ack(2, "n2", 5, 7), ack(3, "n1", 10, 12), ack(4, "n2", 15, 17),
				ack(5, "n2", 20, 22), ack(6, "n1", 30, 32),
			},
			want: []string{"interleave:2>3", "interleave:3>4", "interleave:5>6"},
		},
		{
			name: "overlap with the latest of two other nodes",
			acks: []Ack{ack(1, "n1", 0, 50), ack(2, "n2", 10, 60), ack(3, "n3", 5, 70)},
			want: []string{"overlap:1>2", "overlap:2>3"},
		},
		{
			name: "input order does not matter",
			acks: []Ack{ack(3, "n1", 200, 202), ack(1, "n1", 0, 2), ack(2, "n2", 100, 102)},
			want: []string{"interleave:2>3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tw := range FindTwoWriters(tt.acks) {
				got = append(got, fmt.Sprintf("%s:%d>%d", tw.Kind, tw.Earlier.ID, tw.Later.ID))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("FindTwoWriters = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDisruptions(t *testing.T) {
	start1, start2 := ms(-60000), ms(5000)
	up := func(at int, node string, primary bool, tl int64, started time.Time) NodeState {
		return NodeState{At: ms(at), Node: node, Up: true, Primary: primary, Timeline: tl, Started: started}
	}
	down := func(at int, node string) NodeState { return NodeState{At: ms(at), Node: node} }
	tests := []struct {
		name   string
		states []NodeState
		want   []string // "node kind"
	}{
		{
			name:   "steady primary and replica",
			states: []NodeState{up(0, "n1", true, 1, start1), up(0, "n2", false, 1, start1), up(100, "n2", false, 0, start1), up(200, "n2", false, 1, start1)},
		},
		{
			name:   "primary unreachable for a moment, then the same primary",
			states: []NodeState{up(0, "n1", true, 1, start1), down(100, "n1"), up(200, "n1", true, 1, start1)},
		},
		{
			name: "fenced: the primary restarts as a replica",
			states: []NodeState{up(0, "n1", true, 1, start1), down(4000, "n1"), up(5100, "n1", false, 0, start2),
				up(6000, "n1", false, 1, start2)},
			want: []string{"n1 demoted", "n1 restarted"},
		},
		{
			name:   "primary restarted in place",
			states: []NodeState{up(0, "n1", true, 1, start1), down(100, "n1"), up(5100, "n1", true, 1, start2)},
			want:   []string{"n1 demoted", "n1 restarted"},
		},
		{
			name:   "demoted without a restart",
			states: []NodeState{up(0, "n1", true, 1, start1), up(100, "n1", false, 1, start1)},
			want:   []string{"n1 demoted"},
		},
		{
			name:   "failover: a replica is promoted onto a new timeline",
			states: []NodeState{up(0, "n2", false, 1, start1), up(100, "n2", true, 2, start1)},
			want:   []string{"n2 promoted", "n2 timeline"},
		},
		{
			name:   "a replica follows the new timeline",
			states: []NodeState{up(0, "n3", false, 1, start1), up(100, "n3", false, 0, start1), up(200, "n3", false, 2, start1)},
			want:   []string{"n3 timeline"},
		},
		{
			name:   "primary stops answering for good",
			states: []NodeState{up(0, "n1", true, 1, start1), down(100, "n1")},
			want:   []string{"n1 demoted"},
		},
		{
			name:   "a replica that is down is no demotion",
			states: []NodeState{up(0, "n2", false, 1, start1), down(100, "n2")},
		},
		{
			name:   "first seen as primary after being down",
			states: []NodeState{down(0, "n1"), up(100, "n1", true, 1, start1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range Disruptions(tt.states) {
				got = append(got, d.Node+" "+string(d.Kind))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Disruptions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	started := ms(-60000)
	r := Recording{
		Proxy:  []Ack{ack(1, "n1", 0, 2), ack(3, "n1", 10, 12), ack(5, "n1", 1500, 1502), ack(7, "n1", 1510, 1512)},
		Direct: []Ack{ack(2, "n1", 0, 3), ack(4, "n1", 10, 13), ack(6, "n1", 1200, 1203), ack(8, "n2", 1300, 1301)},
		States: []NodeState{
			{At: ms(0), Node: "n1", Up: true, Primary: true, Timeline: 1, Started: started},
			{At: ms(0), Node: "n2", Up: true, Timeline: 1, Started: started},
			{At: ms(1250), Node: "n2", Up: true, Primary: true, Timeline: 2, Started: started},
		},
		LeaderEvents: []LeaderEvent{{At: ms(500), Name: "n1"}, {At: ms(1000), Name: ""}, {At: ms(1100), Name: "n2"}},
	}
	a := Analyze(r, "n1", ms(5), ms(2000))
	if got := a.ProxyGap.Duration(); got != 1490*time.Millisecond {
		t.Errorf("proxy gap %v, want 1.49s", got)
	}
	if got := a.DirectGap.Duration(); got != 1190*time.Millisecond {
		t.Errorf("direct gap %v, want 1.19s", got)
	}
	if len(a.LeaderChanges) != 2 || a.LeaderChanges[1].Name != "n2" {
		t.Errorf("leader changes %v, want the deletion and n2", a.LeaderChanges)
	}
	if a.Count(Promoted) != 1 || a.Count(NewTimeline) != 1 || a.Count(Demoted) != 0 {
		t.Errorf("disruptions %v, want n2 promoted onto timeline 2", a.Disruptions)
	}
	// n2 acknowledged 8 at 1301, then n1 acknowledged 5 (sent 1500) and 7:
	// n1 again after n2.
	if len(a.TwoWriters) != 1 || a.TwoWriters[0].Kind != Interleaved || a.TwoWriters[0].Later.ID != 5 {
		t.Errorf("two writers %v, want n1's id 5 interleaved after n2's 8", a.TwoWriters)
	}
	if s := a.TwoWriters[0].String(); !strings.Contains(s, "id 8 on n2") || !strings.Contains(s, "id 5 on n1") {
		t.Errorf("TwoWriters.String() = %q", s)
	}
}
