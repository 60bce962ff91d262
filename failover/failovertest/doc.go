// Package failovertest runs several failover.Controllers in one process,
// over simulated PostgreSQL servers (pg/pgtest) and one in-memory DCS
// (dcs/memory), so that a test or a demo of a Patroni-compatible cluster
// takes a few lines instead of a few hundred.
//
// It wires what a real deployment gets from its network: each node's health
// API (healthapi) is served in process and reached by the other nodes
// through an http.RoundTripper that routes by host name, without sockets,
// so the leader race's peer queries and failsafe confirmations work; and a
// goroutine steps the pgtest Network, because simulated WAL moves only in
// Network.Step.
//
// The first node bootstraps the cluster and the others clone from it. A
// Node can then be stopped (its agent dies), crashed (agent and server die
// together), cut off from the DCS (Node.Store.SetFault) or from its peers
// (Node.SetAPIReachable), and acknowledged commits can be checked with
// pgtest's Server.Commit and Network.LostCommits.
//
// Use [NewCluster] from a test (it stops everything in t.Cleanup) and
// [Start] with [Cluster.Close] from a program or an Example.
package failovertest
