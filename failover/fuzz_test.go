package failover

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// FuzzDecide builds observations from fuzzed DCS values (through dcs.Parse)
// and fuzzed local state: Decide must never panic, must return a known
// action with a code and a reason, and a primary without a valid term must
// never be told to keep running, nor a standby cluster to promote.
func FuzzDecide(f *testing.F) {
	f.Add([]byte(`{"state":"running","role":"replica","receive_lsn":100,"replay_lsn":90,"timeline":1,"tags":{"nofailover":false}}`),
		[]byte(`{"state":"running","role":"primary","xlog_location":200,"timeline":2}`),
		[]byte(`{"ttl":30,"loop_wait":10,"pause":false,"synchronous_mode":true}`),
		[]byte(`{"leader":"a","member":"b","scheduled_at":"2025-01-02T03:04:05+00:00"}`),
		[]byte(`{"optime":300}`), []byte(`[[1,100,"no recovery target specified"]]`),
		"a", uint64(0x1234), int64(150), int64(5))
	f.Add([]byte(`null`), []byte(`{"tags":{"failover_priority":"x"}}`), []byte(`{}`), []byte(`a:b`), []byte(`{`), []byte(`[]`),
		"", uint64(0xffffffffffffffff), int64(-1), int64(-100))
	f.Add([]byte(`{"state":"running","role":"replica","receive_lsn":100,"replay_lsn":90,"timeline":1}`), []byte(`{}`),
		[]byte(`{"ttl":30,"loop_wait":10,"standby_cluster":{"host":"h","port":5432,"restore_command":"cp a b"}}`), []byte(`{}`),
		[]byte(`{}`), []byte(`[]`), "b", uint64(0x1301|256|4096), int64(150), int64(5))
	f.Fuzz(func(t *testing.T, memberB, memberC, config, failover, status, history []byte, leader string, flags uint64, lsn, offset int64) {
		kvs := []dcs.KV{
			{Key: dcs.MemberKey("b"), Value: memberB},
			{Key: dcs.MemberKey("c"), Value: memberC},
			{Key: dcs.KeyConfig, Value: config},
			{Key: dcs.KeyFailover, Value: failover},
			{Key: dcs.KeyStatus, Value: status},
			{Key: dcs.KeyHistory, Value: history},
			{Key: dcs.KeyInitialize, Value: []byte(sysID)},
		}
		if flags&1 != 0 {
			kvs = append(kvs, dcs.KV{Key: dcs.KeyLeader, Value: []byte(leader), CreateRevision: int64(flags >> 40)})
		}
		if flags&2 != 0 {
			kvs = append(kvs, dcs.KV{Key: dcs.KeySync, Value: []byte(`{"leader":"` + leader + `","sync_standby":"b"}`)})
		}
		var c *dcs.Cluster
		if flags&4 == 0 {
			c = dcs.Parse(dcs.Snapshot{Revision: int64(flags >> 48), KVs: kvs})
		}
		states := []PGState{PGStopped, PGStarting, PGRunning, PGStopping, PGCrashed, PGStartFailed, "bogus"}
		roles := []Role{RoleUnknown, RolePrimary, RoleReplica, "bogus"}
		now := t0.Add(time.Duration(offset) * time.Second)
		s := DefaultSettings().WithConfig(nilIfNoCluster(c))
		if flags&8 != 0 {
			s.DemoteLead = -time.Second // invalid on purpose
		}
		o := Observation{
			Now: now, Name: "b", Cluster: c, ClusterAt: now.Add(-time.Duration(flags>>8&0xf) * time.Second), Settings: s,
			Tags: dcs.Tags{"nofailover": flags&16 != 0, "replicatefrom": leader},
			Local: LocalStatus{
				DataEmpty: flags&32 != 0, State: states[(flags>>12)%uint64(len(states))], Role: roles[(flags>>16)%uint64(len(roles))],
				WasPrimary: flags&64 != 0, Timeline: int64(flags >> 20 & 3), FlushLSN: lsn, ReceiveLSN: lsn, ReplayLSN: lsn / 2,
				ReplicationState: dcs.ReplicationStreaming, LastWALReceiptAt: now.Add(-time.Duration(flags>>24&0x3f) * time.Second),
				Following: leader, SystemID: []string{"", sysID, "1"}[(flags>>30)%3],
				CrashedAt: now.Add(-time.Duration(lsn) * time.Millisecond), LastStartAttempt: now.Add(-time.Duration(offset) * time.Millisecond),
				Divergence: Divergence((flags >> 32) % 4), DivergenceLeader: leader, RewindFailed: flags&128 != 0,
			},
			Term:             Term{Held: flags&256 != 0, Revision: int64(flags >> 36 & 0xff), Deadline: now.Add(time.Duration(offset) * time.Second / 3)},
			PeersQueried:     flags&512 != 0,
			Peers:            []Position{{Name: leader, State: dcs.StateRunning, Role: dcs.RolePrimary, ReceiveLSN: lsn, ObservedAt: now}, {Name: "c", Unreachable: flags&1024 != 0, ObservedAt: now}},
			LeaderVanishedAt: now.Add(-time.Duration(offset) * time.Millisecond),
			CanBootstrap:     flags&2048 != 0,
			BootstrapOwner:   flags&4096 != 0,
		}
		d := Decide(o)
		if d.Code == "" || d.Reason == "" || d.Action < ActionNoop || d.Action > ActionClearFailover {
			t.Fatalf("incomplete decision %#v", d)
		}
		valid := o.Term.Held && now.Before(o.Term.Deadline.Add(-max(s.DemoteLead, 0)))
		if o.Local.IsPrimary() && !valid && d.Action != ActionDemote && d.Action != ActionAcquire {
			t.Fatalf("primary without a valid term told to %v", d)
		}
		if s.StandbyCluster.Active() && d.Action == ActionPromote {
			t.Fatalf("standby cluster told to promote: %v", d)
		}
		_ = d.String()
	})
}

func nilIfNoCluster(c *dcs.Cluster) *dcs.ClusterConfig {
	if c == nil {
		return nil
	}
	return c.Config
}

// FuzzParseStandbyCluster: any standby_cluster value is parsed, its
// problems reported with ErrInvalidStandbyCluster, never a panic, and what
// is kept yields a follow configuration pglocal accepts.
func FuzzParseStandbyCluster(f *testing.F) {
	for _, seed := range []string{`{"host":"h","port":5432}`, `{"host":"a,b","port":"6000","primary_slot_name":"s"}`,
		`{"restore_command":"cp /a/%f %p","recovery_min_apply_delay":100}`, `null`, `"x"`, `{"port":0}`, `{"host":"h\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sc, err := ParseStandbyCluster(raw)
		if err != nil && !errors.Is(err, ErrInvalidStandbyCluster) {
			t.Fatalf("error %v does not wrap ErrInvalidStandbyCluster", err)
		}
		if !sc.Active() {
			return
		}
		cfg := sc.followConfig()
		if !cfg.Upstream.IsZero() && (cfg.Upstream.Port < 1 || cfg.Upstream.Port > 65535) {
			t.Fatalf("port %d accepted", cfg.Upstream.Port)
		}
		if cfg.SlotName != "" {
			if err := pg.ValidSlotName(cfg.SlotName); err != nil {
				t.Fatalf("slot %q accepted: %v", cfg.SlotName, err)
			}
		}
		for k, v := range cfg.Recovery {
			if strings.ContainsAny(v, "\x00\n\r") {
				t.Fatalf("%s %q accepted", k, v)
			}
		}
		if !isRemoteTarget(sc.target()) {
			t.Fatalf("target %q", sc.target())
		}
	})
}
