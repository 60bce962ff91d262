package failover

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

func TestPlanReplicaSlots(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tl := int64(2)
	member := func(name, state string, tags dcs.Tags) *dcs.Member {
		return &dcs.Member{Name: name, State: state, Timeline: &tl, Tags: tags}
	}
	base := func() *dcs.Cluster {
		return &dcs.Cluster{
			Leader:  &dcs.Leader{Name: "a", Revision: 10},
			Members: []*dcs.Member{member("a", dcs.StateRunning, nil), member("b", dcs.StateRunning, nil)},
			Status:  &dcs.Status{Optime: 5000, Slots: map[string]int64{"cdc": 3000, "keep": 4000}},
		}
	}
	policy := slotPolicy{permanent: map[string]permanentSlot{
		"cdc":  {Type: "logical", Database: "app", Plugin: "pgoutput"},
		"keep": {Type: "physical"},
	}}
	streaming := pg.Status{State: pg.StateRunning, Role: pg.RoleReplica, Timeline: 2, ReplayLSN: 3500, Receiver: pg.ReceiverStreaming}
	copyOf := func(confirmed pg.LSN) []pg.Slot {
		return []pg.Slot{{Name: "cdc", Type: "logical", Database: "app", Plugin: "pgoutput", ConfirmedFlushLSN: confirmed}}
	}
	advance := func(lsn pg.LSN) []slotAdvance { return []slotAdvance{{Name: "cdc", Database: "app", LSN: lsn}} }
	in := func(edit func(*replicaSlotInput)) replicaSlotInput {
		r := replicaSlotInput{Cluster: base(), Me: "b", Policy: policy, Status: streaming, StatusCurrent: true, Now: now}
		if edit != nil {
			edit(&r)
		}
		return r
	}
	tests := []struct {
		name string
		in   replicaSlotInput
		want replicaSlotPlan
	}{
		{"missing copy: copy it", in(nil), replicaSlotPlan{Copy: []string{"cdc"}}},
		{"copy behind: advance to the published position", in(func(r *replicaSlotInput) { r.Have = copyOf(1000) }),
			replicaSlotPlan{Advance: advance(3000)}},
		{"never past the replay position", in(func(r *replicaSlotInput) { r.Have = copyOf(1000); r.Status.ReplayLSN = 2000 }),
			replicaSlotPlan{Advance: advance(2000)}},
		{"copy up to date: nothing", in(func(r *replicaSlotInput) { r.Have = copyOf(3000) }), replicaSlotPlan{}},
		{"copy ahead (replay behind): nothing", in(func(r *replicaSlotInput) { r.Have = copyOf(3000); r.Status.ReplayLSN = 2500 }), replicaSlotPlan{}},
		{"positions of a former leader's term: no advance, no copy", in(func(r *replicaSlotInput) { r.Have = copyOf(1000); r.StatusCurrent = false }),
			replicaSlotPlan{}},
		{"replica on another timeline than the leader: no advance", in(func(r *replicaSlotInput) { r.Have = copyOf(1000); r.Status.Timeline = 1 }),
			replicaSlotPlan{}},
		{"not published yet: no copy", in(func(r *replicaSlotInput) { r.Cluster.Status.Slots = nil }), replicaSlotPlan{}},
		{"unusable copy: copy again", in(func(r *replicaSlotInput) { r.Have = copyOf(1000); r.Recopy = map[string]bool{"cdc": true} }),
			replicaSlotPlan{Copy: []string{"cdc"}}},
		{"a different slot of that name is left alone", in(func(r *replicaSlotInput) {
			r.Have = []pg.Slot{{Name: "cdc", Type: "logical", Database: "other", Plugin: "pgoutput"}}
		}), replicaSlotPlan{}},
		{"paused: no restart", in(func(r *replicaSlotInput) {
			paused := true
			r.Cluster.Config = &dcs.ClusterConfig{Pause: &paused}
		}), replicaSlotPlan{Wait: "the cluster is paused: no restart to copy logical slots"}},
		{"pending switchover: no restart", in(func(r *replicaSlotInput) { r.Cluster.Failover = &dcs.Failover{Leader: "a", Member: "b"} }),
			replicaSlotPlan{Wait: "a switchover or failover is pending: no restart to copy logical slots"}},
		{"pending switchover still advances", in(func(r *replicaSlotInput) {
			r.Cluster.Failover = &dcs.Failover{Leader: "a", Member: "b"}
			r.Have = copyOf(1000)
		}), replicaSlotPlan{Advance: advance(3000)}},
		{"leader not running", in(func(r *replicaSlotInput) { r.Cluster.Members[0].State = dcs.StateStopped }),
			replicaSlotPlan{Wait: "no running leader to copy logical slots from"}},
		{"not streaming", in(func(r *replicaSlotInput) { r.Status.Receiver = "" }),
			replicaSlotPlan{Wait: "not streaming: logical slots are copied once replication runs"}},
		{"copied recently: back off", in(func(r *replicaSlotInput) { r.LastCopy = now.Add(-CopyBackoff / 2) }),
			replicaSlotPlan{Wait: "the last copy was less than 1m0s ago"}},
		{"back-off over", in(func(r *replicaSlotInput) { r.LastCopy = now.Add(-CopyBackoff) }), replicaSlotPlan{Copy: []string{"cdc"}}},
		{"nofailover: no copy", in(func(r *replicaSlotInput) { r.Tags = dcs.Tags{dcs.TagNoFailover: true} }),
			replicaSlotPlan{Wait: "nofailover: logical slots are copied only to members that can be promoted"}},
		{"nofailover still advances an existing copy", in(func(r *replicaSlotInput) { r.Tags = dcs.Tags{dcs.TagNoFailover: true}; r.Have = copyOf(1000) }),
			replicaSlotPlan{Advance: advance(3000)}},
		{"nostream: nothing", in(func(r *replicaSlotInput) { r.Tags = dcs.Tags{dcs.TagNoStream: true}; r.Have = copyOf(1000) }), replicaSlotPlan{}},
		{"on a primary: nothing", in(func(r *replicaSlotInput) { r.Status.Role = pg.RolePrimary }), replicaSlotPlan{}},
		{"no logical permanent slots: nothing", in(func(r *replicaSlotInput) { r.Policy = slotPolicy{} }), replicaSlotPlan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planReplicaSlots(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("plan %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSlotsReady(t *testing.T) {
	local := map[string]pg.Slot{"a": {CatalogXmin: 100}, "b": {CatalogXmin: 100}, "c": {CatalogXmin: 100}, "w": {CatalogXmin: 5}}
	tests := []struct {
		name    string
		pending map[string]uint32
		phys    uint32
		want    []string
	}{
		{"no feedback yet", map[string]uint32{"a": 90}, 0, nil},
		{"primary held the rows, feedback covers the copy", map[string]uint32{"a": 90}, 95, []string{"a"}},
		{"feedback equal to the copy", map[string]uint32{"a": 100}, 100, []string{"a"}},
		{"the primary's slot had moved past the feedback", map[string]uint32{"b": 97}, 95, nil},
		{"feedback newer than the copy", map[string]uint32{"c": 90}, 120, nil},
		{"primary's value not known yet", map[string]uint32{"a": 0}, 95, nil},
		{"not on the server", map[string]uint32{"x": 90}, 95, nil},
		{"across xid wraparound", map[string]uint32{"w": 4294967200}, 4294967290, []string{"w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slotsReady(tt.pending, tt.phys, local); !slices.Equal(got, tt.want) {
				t.Fatalf("ready %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlotOnPrimary(t *testing.T) {
	m := func(name, from, state string) *dcs.Member {
		var tags dcs.Tags
		if from != "" {
			tags = dcs.Tags{dcs.TagReplicateFrom: from}
		}
		return &dcs.Member{Name: name, State: state, Tags: tags}
	}
	cl := &dcs.Cluster{Leader: &dcs.Leader{Name: "a"}, Members: []*dcs.Member{
		m("a", "", dcs.StateRunning), m("b", "", dcs.StateRunning), m("c-1", "b", dcs.StateRunning),
		m("d", "c-1", dcs.StateRunning), m("e", "x", dcs.StateStopped), m("x", "", dcs.StateStopped),
		m("f", "a", dcs.StateRunning), m("g", "h", dcs.StateRunning), m("h", "g", dcs.StateRunning),
	}}
	for me, want := range map[string]string{"b": "b", "c-1": "b", "d": "b", "e": "e", "f": "f", "g": "g"} {
		if got := slotOnPrimary(cl, me); got != want {
			t.Errorf("slotOnPrimary(%s) = %s, want %s", me, got, want)
		}
	}
}
