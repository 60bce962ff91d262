// Package localcluster runs a complete pgha cluster on this machine, for
// the demo, the end-to-end tests and the failover benchmark: an embedded
// etcd (1 or 3 members), N pgha-agent processes with real PostgreSQL, and
// HAProxy in front of them, all on 127.0.0.1.
//
// [Start] brings everything up; [Cluster] then offers the faults and
// checks the scenarios need (kill a node or only its postmaster, restart
// it, switch over, kill an etcd member), a view of the DCS, and a
// [Writer] that inserts increasing ids through HAProxy's read-write port
// and records every acknowledged one, so that [Cluster.Verify] can count
// acknowledged writes that were lost and [Writer.OutageAround] can measure
// write unavailability around a fault. What the end-to-end tests and the
// benchmark both observe lives here too: [WatchLeader] records every
// change of the leader key, [LongestGap] measures the write gap over the
// acknowledgements, [Cluster.PatchConfig] changes the dynamic
// configuration and waits until every agent has it, and [Poll] waits on a
// condition.
//
// [Cluster.Close] stops every process it started (agents, postmasters and
// their backends, HAProxy, etcd) and removes the work directory. It is
// not a test harness (it takes no testing.TB), so the demo can use it too;
// the agent binary comes from [BuildAgent].
package localcluster
