package failover_test

import (
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
)

// The leader died under write load: its last published optime is far ahead
// of every replica. Lag is measured against the best surviving copy of the
// WAL, so the most advanced replica is promoted and the WAL only the dead
// leader had is reported, not used to keep the cluster leaderless.
func ExampleSelectCandidate() {
	lsn := func(v int64) *int64 { return &v }
	member := func(name string, pos int64, tags dcs.Tags) *dcs.Member {
		return &dcs.Member{Name: name, State: dcs.StateRunning, Role: dcs.RoleReplica,
			ReceiveLSN: lsn(pos), ReplayLSN: lsn(pos), Timeline: lsn(1), Tags: tags}
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cluster := &dcs.Cluster{
		Members: []*dcs.Member{
			member("pg1", 40<<20, nil),
			member("pg2", 41<<20, dcs.Tags{"nofailover": true}),
			member("pg3", 38<<20, nil),
		},
		Status: &dcs.Status{Optime: 60 << 20}, // frozen at the leader's death
	}
	res := failover.SelectCandidate(failover.CandidateInput{
		Cluster:  cluster,
		Now:      now,
		Settings: failover.DefaultSettings(), // maximum_lag_on_failover: 1 MiB
		Positions: []failover.Position{
			{Name: "pg3", State: dcs.StateRunning, Role: dcs.RoleReplica, ReceiveLSN: 40<<20 + 4096, ReplayLSN: 39 << 20,
				Timeline: 1, ObservedAt: now, Source: failover.SourcePeer},
		},
	})
	fmt.Println("chosen:", res.Chosen)
	fmt.Println("reference:", res.Reference, "from", res.ReferenceFrom)
	fmt.Println("unrecoverable:", res.Unrecoverable)
	for _, v := range res.Verdicts {
		fmt.Printf("%s: %q %s\n", v.Name, v.Reason, v.Message)
	}
	// Output:
	// chosen: pg3
	// reference: 42991616 from pg2 (member key)
	// unrecoverable: 19922944
	// pg3: "" eligible: priority 1, received 41947136, replay 40894464, lag 1044480
	// pg1: "" eligible: priority 1, received 41943040, replay 41943040, lag 1048576
	// pg2: "nofailover" tagged nofailover (failover_priority 0)
}
