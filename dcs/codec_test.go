package dcs

import (
	"errors"
	"testing"
	"time"
)

// Literal values as Patroni writes them (compact JSON, its key order). Each
// must decode and encode back to the same bytes.
var patroniSamples = []struct {
	key, value string
}{
	{"members/postgresql0", `{"conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni","state":"running","role":"replica","version":"4.1.4","xlog_location":67419744,"receive_lsn":67419744,"replay_lsn":67419744,"replication_state":"streaming","timeline":5,"tags":{"clonefrom":true},"proxy_url":"postgres://10.0.0.2:6432/postgres","pending_restart":true,"pending_restart_reason":{"max_connections":{"old_value":"100","new_value":"101"}},"scheduled_restart":{"schedule":"2024-01-14T10:09:57+00:00","postmaster_start_time":"2024-01-14T09:00:00+00:00","role":"replica"},"checkpoint_after_promote":false,"pause":true}`},
	{"members/pg1", `{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"primary","version":"3.0.2","xlog_location":50331968,"timeline":1}`},
	{"members/pg2", `{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"stopped","role":"uninitialized","version":"3.0.2"}`},
	{"sync", `{"leader":"node0","sync_standby":"node1,node2","quorum":0}`},
	{"sync", `{"leader":"node0","sync_standby":null,"quorum":0}`},
	{"failover", `{"leader":"node0","member":"node2","scheduled_at":"2024-01-14T10:09:57+00:00"}`},
	{"failover", `{}`},
	{"history", `[[1,25165984,"no recovery target specified","2024-01-14T10:09:57.123456+00:00","node1"],[2,50331808,"no recovery target specified","2024-01-15T11:00:00+00:00","node0"]]`},
	{"history", `[]`},
	{"status", `{"optime":67419744,"slots":{"node1":67419744,"node2":67419560},"retain_slots":["node0","node1","node2"]}`},
	{"status", `{"optime":67419744}`},
	{"failsafe", `{"pg1":"http://10.0.0.1:8008/patroni","pg2":"http://10.0.0.2:8008/patroni"}`},
	{"config", `{"ttl":30,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":1048576,"synchronous_mode":true,"postgresql":{"use_pg_rewind":true,"use_slots":true,"parameters":{"max_connections":100,"wal_level":"replica"}}}`},
	{"config", `{"ttl":30,"loop_wait":10,"synchronous_mode":"quorum","pause":true,"slots":{"x":{"type":"physical"}}}`},
}

func encodeKV(t *testing.T, c *Cluster, key string) []byte {
	t.Helper()
	switch key {
	case KeySync:
		return c.Sync.Encode()
	case KeyFailover:
		return c.Failover.Encode()
	case KeyHistory:
		return c.History.Encode()
	case KeyStatus:
		return c.Status.Encode()
	case KeyFailsafe:
		return c.Failsafe.Encode()
	case KeyConfig:
		return c.Config.Encode()
	}
	name := key[len(KeyMembersPrefix):]
	return c.Member(name).Encode()
}

func TestPatroniSamplesRoundTrip(t *testing.T) {
	for _, s := range patroniSamples {
		t.Run(s.key, func(t *testing.T) {
			c := Parse(Snapshot{Revision: 7, KVs: []KV{{Key: s.key, Value: []byte(s.value), ModRevision: 7}}})
			if len(c.Problems) > 0 {
				t.Fatalf("problems: %v", c.Problems)
			}
			if got := string(encodeKV(t, c, s.key)); got != s.value {
				t.Fatalf("round trip changed the value\n got %s\nwant %s", got, s.value)
			}
		})
	}
}

func TestParseCluster(t *testing.T) {
	snap := Snapshot{Revision: 42, KVs: []KV{
		{Key: KeyInitialize, Value: []byte("7268616322854375442"), ModRevision: 3},
		{Key: KeyLeader, Value: []byte("pg1"), CreateRevision: 10, ModRevision: 10, Lease: 99},
		{Key: "members/pg2", Value: []byte(patroniSamples[2].value)},
		{Key: "members/pg1", Value: []byte(patroniSamples[1].value)},
		{Key: KeyConfig, Value: []byte(patroniSamples[12].value), ModRevision: 5},
		{Key: KeyHistory, Value: []byte(patroniSamples[7].value)},
		{Key: KeySync, Value: []byte(patroniSamples[3].value), ModRevision: 8},
		{Key: KeyFailover, Value: []byte("node0:node2"), ModRevision: 9},
		{Key: "optime/leader", Value: []byte("123")}, // legacy, ignored quietly
	}}
	c := Parse(snap)
	if len(c.Problems) != 0 {
		t.Fatalf("problems: %v", c.Problems)
	}
	if c.Revision != 42 || *c.Initialize != "7268616322854375442" || c.InitializeRevision != 3 {
		t.Fatalf("revision/initialize wrong: %+v", c)
	}
	if c.Leader.Name != "pg1" || c.Leader.Revision != 10 || c.Leader.Lease != 99 {
		t.Fatalf("leader = %+v", c.Leader)
	}
	if len(c.Members) != 2 || c.Members[0].Name != "pg1" || c.LeaderMember() != c.Members[0] {
		t.Fatalf("members not sorted or leader member wrong")
	}
	if h, p := c.Members[0].Host(); h != "127.0.0.1" || p != 5432 {
		t.Fatalf("host = %s:%d", h, p)
	}
	if c.Members[0].LSN() != 50331968 || !c.Members[0].IsPrimaryRole() {
		t.Fatalf("lsn/role wrong")
	}
	if c.Timeline() != 3 {
		t.Fatalf("timeline = %d, want 3", c.Timeline())
	}
	if c.Config.ModRevision != 5 || c.Config.SyncMode() != "on" || *c.Config.Postgresql.UsePgRewind != true {
		t.Fatalf("config = %+v", c.Config)
	}
	if got := Seconds(c.Config.TTL, 0); got != 30*time.Second {
		t.Fatalf("ttl = %v", got)
	}
	if !c.Sync.IsSync("node2") || c.Sync.IsSync("node3") || c.Sync.ModRevision != 8 {
		t.Fatalf("sync = %+v", c.Sync)
	}
	if c.Failover.Leader != "node0" || c.Failover.Member != "node2" || c.FailoverRevision != 9 {
		t.Fatalf("legacy failover = %+v", c.Failover)
	}
}

func TestParseToleratesGarbage(t *testing.T) {
	garbage := []KV{
		{Key: KeyLeader, Value: []byte("bad name\n")},
		{Key: "members/ok", Value: []byte(`{"conn_url":"postgres://h:1/p","state":"running","role":"replica","version":"1","timeline":"five","tags":[1]}`)},
		{Key: "members/worse", Value: []byte(`[1,2,3]`)},
		{Key: "members/evil\nname", Value: []byte(`{}`)},
		{Key: KeyConfig, Value: []byte(`{"ttl":"thirty","loop_wait":10,"synchronous_mode":7}`)},
		{Key: KeyInitialize, Value: []byte("not-a-sysid")},
		{Key: KeyHistory, Value: []byte(`[[1,2,"x"],["a"],7]`)},
		{Key: KeySync, Value: []byte(`null`)},
		{Key: KeyStatus, Value: []byte(`{"optime":"x"}`)},
		{Key: KeyFailsafe, Value: []byte(`{"a":1}`)},
		{Key: KeyFailover, Value: []byte(`nonsense`)},
	}
	c := Parse(Snapshot{KVs: garbage})
	if c.Leader != nil || c.Initialize != nil || c.Sync != nil || c.Failsafe != nil || c.Failover != nil {
		t.Fatalf("garbage accepted: leader=%v init=%v sync=%v failsafe=%v failover=%v", c.Leader, c.Initialize, c.Sync, c.Failsafe, c.Failover)
	}
	if len(c.Members) != 1 || c.Members[0].Name != "ok" || c.Members[0].Timeline != nil || c.Members[0].State != "running" {
		t.Fatalf("member with a bad field should keep its good fields: %+v", c.Members)
	}
	if c.Config == nil || c.Config.TTL != nil || *c.Config.LoopWait != 10 {
		t.Fatalf("config should keep good fields: %+v", c.Config)
	}
	if len(c.History) != 1 || c.Status == nil || c.Status.Optime != 0 {
		t.Fatalf("history/status: %+v %+v", c.History, c.Status)
	}
	if len(c.Problems) < 10 {
		t.Fatalf("want every bad key reported, got %d: %v", len(c.Problems), c.Problems)
	}
	var ke *KeyError
	if !errors.As(c.Problems[0], &ke) || ke.Key != KeyLeader {
		t.Fatalf("problem not a KeyError naming the key: %v", c.Problems[0])
	}
}

func TestTags(t *testing.T) {
	tests := []struct {
		json       string
		noFailover bool
		priority   int64
	}{
		{`{}`, false, 1},
		{`{"nofailover":true}`, true, 0},
		{`{"nofailover":"yes"}`, true, 0},
		{`{"nofailover":false,"failover_priority":3}`, false, 3},
		{`{"failover_priority":0}`, true, 0},
		{`{"failover_priority":"2"}`, false, 2},
	}
	for _, tt := range tests {
		tags, err := decodeTags([]byte(tt.json))
		if err != nil {
			t.Fatal(err)
		}
		if tags.NoFailover() != tt.noFailover || tags.FailoverPriority() != tt.priority {
			t.Errorf("%s: nofailover=%v priority=%d", tt.json, tags.NoFailover(), tags.FailoverPriority())
		}
	}
}

func TestPrefixAndNames(t *testing.T) {
	if got := Prefix("", "batman"); got != "/service/batman/" {
		t.Fatalf("Prefix = %q", got)
	}
	if got := Prefix("/pg//", "b"); got != "/pg/b/" {
		t.Fatalf("Prefix = %q", got)
	}
	for _, bad := range []string{"", "a b", "a\nb", "x#y", "..", "a/b", "é", string(make([]byte, 200))} {
		if ValidateName(bad) == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	for _, good := range []string{"pg1", "node-0.dc_1", "A"} {
		if err := ValidateName(good); err != nil {
			t.Errorf("ValidateName(%q): %v", good, err)
		}
	}
}

func TestEncodersFromValues(t *testing.T) {
	ts := time.Date(2024, 1, 14, 10, 9, 57, 0, time.UTC)
	f := &Failover{Member: "pg2", ScheduledAt: &ts}
	if got := string(f.Encode()); got != `{"member":"pg2","scheduled_at":"2024-01-14T10:09:57+00:00"}` {
		t.Fatalf("failover = %s", got)
	}
	s := &SyncState{Leader: "a", SyncStandby: []string{"c", "b"}}
	if got := string(s.Encode()); got != `{"leader":"a","sync_standby":"b,c","quorum":0}` {
		t.Fatalf("sync = %s", got)
	}
	h := History{{Timeline: 1, LSN: 100, Reason: "r", Timestamp: "t", NewLeader: "n"}}
	if got := string(h.Encode()); got != `[[1,100,"r","t","n"]]` {
		t.Fatalf("history = %s", got)
	}
	lsn, tl := int64(5), int64(2)
	m := &Member{ConnURL: "postgres://h:5432/postgres", APIURL: "http://h:8008/patroni", State: StateRunning, Role: RolePrimary, Version: "pgha", XLogLocation: &lsn, Timeline: &tl, Tags: Tags{"nofailover": true}}
	want := `{"conn_url":"postgres://h:5432/postgres","api_url":"http://h:8008/patroni","state":"running","role":"primary","version":"pgha","xlog_location":5,"timeline":2,"tags":{"nofailover":true}}`
	if got := string(m.Encode()); got != want {
		t.Fatalf("member\n got %s\nwant %s", got, want)
	}
}
