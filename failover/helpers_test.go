package failover

import (
	"time"

	"github.com/pgha/pgha/dcs"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func i64(v int64) *int64 { return &v }
func bptr(v bool) *bool  { return &v }
func sptr(v string) *string {
	return &v
}

// replica returns a running replica member key at the given LSN and timeline.
func replica(name string, lsn, tl int64, tags dcs.Tags) *dcs.Member {
	return &dcs.Member{Name: name, State: dcs.StateRunning, Role: dcs.RoleReplica,
		ReceiveLSN: i64(lsn), ReplayLSN: i64(lsn), Timeline: i64(tl), Tags: tags,
		ReplicationState: dcs.ReplicationStreaming, APIURL: "http://127.0.0.1:8008/patroni", ConnURL: "postgres://127.0.0.1:5432/postgres"}
}

// primary returns a running primary member key.
func primary(name string, lsn, tl int64) *dcs.Member {
	return &dcs.Member{Name: name, State: dcs.StateRunning, Role: dcs.RolePrimary, XLogLocation: i64(lsn), Timeline: i64(tl)}
}

func cluster(members ...*dcs.Member) *dcs.Cluster {
	return &dcs.Cluster{Revision: 100, Initialize: sptr("7000000000000000001"), Members: members, History: dcs.History{}}
}

func withLeader(c *dcs.Cluster, name string, rev int64) *dcs.Cluster {
	c.Leader = &dcs.Leader{Name: name, Revision: rev}
	return c
}

func peer(name string, lsn, tl int64, at time.Time) Position {
	return Position{Name: name, State: dcs.StateRunning, Role: dcs.RoleReplica, ReceiveLSN: lsn, ReplayLSN: lsn, Timeline: tl, ObservedAt: at, Source: SourcePeer}
}

// patroniTimings are the settings the decision table tests were written
// against: Patroni-like timers (ttl 30 s, loop_wait 10 s,
// primary_start_timeout 300 s), so that the tests do not move with
// pgha's faster defaults.
func patroniTimings() Settings {
	s := DefaultSettings()
	s.TTL, s.LoopWait, s.PrimaryStartTimeout = 30*time.Second, 10*time.Second, 300*time.Second
	s.RacePostponeMax, s.StreamingFreshness, s.MaxPositionAge = 30*time.Second, 10*time.Second, 30*time.Second
	s.DemoteLead, s.PeerQueryTimeout = 5*time.Second, 2*time.Second
	return s
}
