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
// acknowledged writes that were lost. What the end-to-end tests and the
// benchmark both observe lives here too: [WatchLeader] records every
// change of the leader key, [LongestGap] measures the write gap over the
// acknowledgements, [Cluster.PatchConfig] changes the dynamic
// configuration and waits until every agent has it, and [Poll] waits on a
// condition.
//
// The scenarios in which no failover is needed (issue 13) record more: a
// [Recorder] writes through HAProxy and directly to every node, noting
// which node acknowledged each write and when it was sent and
// acknowledged; a [StateWatch] probes every node's PostgreSQL (role,
// timeline, postmaster start). [Analyze] judges the recordings with pure,
// table-tested rules: [FindTwoWriters] (two nodes acknowledging writes at
// once), [Disruptions] (demotions, promotions, restarts, new timelines),
// [LongestGap] through HAProxy and directly, and [Cluster.VerifyAcks]
// (lost writes); an [Observer] runs the three recordings together.
// [Cluster.RunEtcdFault] runs one etcd fault end to end:
// [Cluster.PlanEtcdFault] finds the member the primary's agent talks to
// ([Cluster.AgentEtcdMember]) and makes the victim raft leader with
// [Etcd.MoveLeader]; [Etcd.Kill] then cuts the member's connections as a
// crash would before stopping it. Options.EtcdHeartbeat and EtcdElection
// set the members' raft timings ([StockEtcdHeartbeat] and
// [StockEtcdElection] are etcd's own defaults). [Cluster.SetTags] gives a
// node other tags (failover_priority, sync_priority, nofailover) and
// restarts its agent; [Cluster.TerminateWALReceiver] breaks a replica's
// replication connection; [Cluster.RequestSwitchover] returns the REST
// API's answer to a switchover, refused or not.
//
// The agent faults of issue 14 hit only an agent: [Cluster.FreezeAgent]
// (SIGSTOP) and [Cluster.ThawAgent], [Cluster.KillAgent] (SIGKILL of the
// agent's pid alone; its PostgreSQL and its fence keeper keep running).
// [Cluster.FenceKeepers] finds the fence keepers the cluster's agents
// started (they carry the cluster's directory in their environment);
// [Cluster.RunAgentFault] runs one agent fault end to end under an
// [Observer], timing the old postmaster's and the keeper's exits, the
// lease's expiry and the new leader; [Cluster.WaitQuorum] waits until
// synchronous_mode quorum has settled.
//
// [Cluster.Close] stops every process it started (agents, postmasters and
// their backends, the agents' fence keepers, HAProxy, etcd) and removes
// the work directory. It is not a test harness (it takes no testing.TB),
// so the demo can use it too; the agent binary comes from [BuildAgent].
package localcluster
