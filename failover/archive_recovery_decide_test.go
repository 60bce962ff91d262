package failover

import (
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// A running replica that does not stream, because it restores WAL from the
// archive (or is tagged nostream), is left alone however long that lasts
// and however far behind it is: only divergence or POST /reinitialize
// re-clone a member, never "not streaming".
func TestArchiveRecoveryReplicaNotRecloned(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behind int64
		since  time.Duration
	}{
		{"just started from the archive", 64 << 20, time.Second},
		{"an hour in archive recovery, 1 GiB behind", 1 << 30, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := replicaObs()
			o.Local.ReplicationState = dcs.ReplicationArchiveRecovery
			o.Local.ReceiveLSN, o.Local.ReplayLSN = 0, 1000
			o.Local.LastWALReceiptAt = time.Time{}
			o.Local.LastStartAttempt = o.Now.Add(-tc.since)
			o.Cluster.Member("a").XLogLocation = i64(1000 + tc.behind)
			d := Decide(o)
			if d.Action != ActionNoop || d.Code != CodeFollowing {
				t.Fatalf("decision %v %s (%s), want noop following", d.Action, d.Code, d.Reason)
			}
		})
	}
}
