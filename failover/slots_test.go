package failover

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestWantedSlots(t *testing.T) {
	member := func(name string, tags dcs.Tags) *dcs.Member { return &dcs.Member{Name: name, Tags: tags} }
	cl := &dcs.Cluster{Members: []*dcs.Member{
		member("a", nil), member("b", nil), member("c-3", dcs.Tags{dcs.TagReplicateFrom: "b"}),
		member("d", dcs.Tags{dcs.TagNoStream: true}),
	}}
	perm := map[string]permanentSlot{"keep_me": {Type: "physical"}, "cdc": {Type: "logical", Database: "app", Plugin: "pgoutput"}}
	tests := []struct {
		name   string
		me     string
		leader bool
		p      slotPolicy
		want   []string
	}{
		{"leader: every streaming member and the permanent slots", "a", true, slotPolicy{useSlots: true, permanent: perm}, []string{"b", "c_3", "cdc", "keep_me"}},
		{"replica: only its cascading members", "b", false, slotPolicy{useSlots: true, permanent: perm}, []string{"c_3"}},
		{"replica with no cascading members", "c-3", false, slotPolicy{useSlots: true}, nil},
		{"use_slots off: permanent slots only", "a", true, slotPolicy{useSlots: false, permanent: perm}, []string{"cdc", "keep_me"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(wantedSlots(cl, tt.me, tt.leader, tt.p)))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("wanted %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSlotsTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`1800`, 30 * time.Minute, true}, {`"30min"`, 30 * time.Minute, true}, {`"2h"`, 2 * time.Hour, true},
		{`"1d"`, 24 * time.Hour, true}, {`"10s"`, 10 * time.Second, true}, {`"90m"`, 90 * time.Minute, true},
		{`0`, 0, true}, {`"soon"`, 0, false}, {`-5`, 0, false}, {`[1]`, 0, false},
	}
	for _, tt := range tests {
		got, err := parseSlotsTTL(json.RawMessage(tt.in))
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseSlotsTTL(%s) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSlotMatch(t *testing.T) {
	p := slotPolicy{ignore: []slotMatch{{Name: "ext"}, {Type: "logical", Plugin: "wal2json"}}}
	for _, tt := range []struct {
		name, typ, db, plugin string
		want                  bool
	}{
		{"ext", "physical", "", "", true}, {"other", "logical", "app", "wal2json", true},
		{"other", "logical", "app", "pgoutput", false}, {"other", "physical", "", "", false},
	} {
		if got := p.ignored(tt.name, tt.typ, tt.db, tt.plugin); got != tt.want {
			t.Errorf("ignored(%s %s %s %s) = %v", tt.name, tt.typ, tt.db, tt.plugin, got)
		}
	}
}
