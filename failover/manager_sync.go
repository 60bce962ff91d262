package failover

import (
	"encoding/json"

	"github.com/pgha/pgha/dcs"
)

// syncRefusal returns why a switchover or failover to candidate is refused
// in synchronous mode, or "" when it is allowed: only a member listed in
// the sync key holds every acknowledged commit.
func (c *Controller) syncRefusal(cl *dcs.Cluster, candidate, verb string) string {
	s := c.o.Settings.WithConfig(cl.Config)
	if candidate == "" || !s.syncActive(cl) || cl.Sync.IsSync(candidate) {
		return ""
	}
	return verb + " to " + candidate + " refused: synchronous_mode is " + s.SynchronousMode + " and " + candidate +
		" is not a synchronous standby (sync key lists " + listOrNone(cl.Sync.SyncStandby) + "), so it may lack acknowledged commits" +
		"; choose a synchronous standby, or run a failover with " + AllowDataLossKey + " to accept losing data"
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	b, _ := json.Marshal(names)
	return string(b)
}
