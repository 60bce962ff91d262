package etcdembed

import (
	"fmt"

	"go.etcd.io/etcd/server/v3/embed"
)

// Leader returns the position in servers of the raft leader every one of
// them agrees on, or an error when they do not (yet) agree or the leader is
// not among them. Pass only the servers that run and can reach each other.
func Leader(servers []*embed.Etcd) (int, error) {
	ids := make([]uint64, len(servers))
	views := make([]uint64, len(servers))
	for i, e := range servers {
		ids[i] = uint64(e.Server.MemberID())
		views[i] = uint64(e.Server.Leader())
	}
	return agreedLeader(ids, views)
}

// agreedLeader is Leader on member IDs and each member's view of the leader.
func agreedLeader(ids, views []uint64) (int, error) {
	if len(views) == 0 {
		return -1, fmt.Errorf("no running member")
	}
	for _, v := range views[1:] {
		if v != views[0] {
			return -1, fmt.Errorf("members disagree on the leader: %s", hexIDs(views))
		}
	}
	for i, id := range ids {
		if id == views[0] {
			return i, nil
		}
	}
	return -1, fmt.Errorf("leader %x is not a running member (views %s)", views[0], hexIDs(views))
}

func hexIDs(ids []uint64) string {
	return fmt.Sprintf("%x", ids)
}
