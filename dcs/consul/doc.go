// Package consul is the Consul backend of [dcs.Store], on
// github.com/hashicorp/consul/api. Keys live where Patroni keeps them,
// dcs.Prefix(namespace, scope) without the leading slash
// ("service/batman/leader" holds the bare member name), so patronictl,
// vip-manager and confd read a pgha cluster unchanged.
//
// # Mapping
//
//	Grant      session: behavior "delete", lock-delay 1 ms (configurable),
//	           no health checks unless Config.NodeChecks, TTL = dcs TTL
//	KeepAlive  session renew; a missing session is dcs.ErrLeaseLost
//	Revoke     session destroy (idempotent); Consul deletes its keys
//	Put        one transaction: guards, then "lock" with the lease's
//	           session (the transactional ?acquire=) or "set"
//	  Absent        check-not-exists (Patroni's cas=0)
//	  ModRevision   check-index on ModifyIndex
//	  Leader        leader key read (value and CreateIndex must match the
//	                term), then check-index + check-session on it
//	Delete     plain delete, or a transaction of the guards and a delete
//	Get        recursive read (consistent by default); Revision is
//	           X-Consul-Index, CreateRevision/ModRevision are
//	           CreateIndex/ModifyIndex, Lease comes from Session
//	Watch      blocking queries on the prefix, diffed (see below)
//
// A failed transaction check is dcs.ErrConflict; a lock with a session that
// is gone, dcs.ErrLeaseLost; a deadline, a refused or reset connection, a
// 5xx or 429 answer, dcs.ErrUnavailable. Every call is bounded by
// Config.RequestTimeout through the request context.
//
// # Environment
//
// The Consul client library reads the environment in api.NewClient, and New
// lets it: an empty Config.Token is filled from the file named by
// CONSUL_HTTP_TOKEN_FILE, else from CONSUL_HTTP_TOKEN (the file also wins
// over a Token equal to CONSUL_HTTP_TOKEN), and CONSUL_NAMESPACE and
// CONSUL_PARTITION (Consul Enterprise) apply to every request. Address,
// Scheme and TLS come from Config alone: CONSUL_HTTP_ADDR, CONSUL_HTTP_SSL
// and the CONSUL_CACERT family are ignored.
//
// # Fencing token
//
// The leader key is created by a transaction whose result carries its
// CreateIndex, which Put returns; Get reports the same value as the key's
// CreateRevision. That index is the term's fencing token (dcs.Leader.Revision).
// Consul indexes grow for the life of the cluster's raft data; a cluster that
// loses its data (a -dev agent restarted) starts again from low indexes.
//
// # Lease IDs
//
// A lease ID is the first 63 bits of the session UUID, so every Store in
// every process maps a session to the same ID: KV.Lease read by one node
// equals what Grant returned on another, and any Store can renew or revoke a
// lease by ID (it looks the session up when it has not seen it).
//
// # TTL, and why the session TTL is not TTL/2
//
// Consul guarantees that a session is not invalidated before its TTL has
// passed since the last renewal; it may invalidate it up to twice the TTL
// later (its servers arm the timer at 2×TTL, and re-arm all timers when a
// new raft leader takes over). Patroni creates sessions with ttl/2, so that
// keys vanish about ttl after the last renewal. But the store may then
// delete them as early as ttl/2, while the election rule computes the
// holder's deadline as keepalive send time + TTL − margin from the TTL it
// passed to Grant: with ttl/2, a new leader could acquire before the old one
// stops. This package puts safety first: a dcs TTL of T gives a Consul
// session TTL of T, so keys disappear between T and 2T after the last
// renewal; the earliest, T, is what the holder's deadline is computed
// against. The cost is detection: a dead holder's key lingers up to 2T, so
// pick T about half of what you would give Patroni's ttl for the same
// failover time.
//
// Consul refuses session TTLs below the agent's session_ttl_min (10 s by
// default) or above 24 h; Grant then fails with [ErrTTLTooShort] naming the
// agent's minimum. Either raise the TTL (election's default of 6 s is below
// it) or lower session_ttl_min in the agent configuration.
//
// # Watch
//
// Consul has no per-key event log. Watch issues blocking queries on the
// prefix and emits the difference between successive reads as put and
// delete events in index order, so intermediate states between two reads
// are collapsed (a key written twice gives one put; a key created and
// deleted in between gives nothing). A watch from a past revision cannot be
// replayed: if the prefix changed since rev, the first response is a resync
// Snapshot. After a failed query, or if Consul's index goes backwards, the
// next response is a resync Snapshot too. This is enough for HA (every
// consumer re-reads the cluster on change, as Patroni does) but not an
// event log.
//
// # Agent restarts and sessions
//
// Run against the local Consul agent, as Patroni advises. A session without
// health checks survives a restart of the servers (their raft data keeps it;
// the timers restart at 2×TTL), so a restart under a leader is harmless: the
// holder's keepalives fail for a while and resume, and if the outage outlasts
// its deadline it stops acting as leader before its key could expire
// (TestAgentRestartUnderLeader shows this on a persistent server). What does
// delete the key at once is the node leaving the cluster: a client agent
// stopped gracefully with leave_on_terminate (the default for client agents)
// deregisters its node and destroys its sessions. Configure agents that
// pgha uses with leave_on_terminate = false and skip_leave_on_interrupt =
// true; otherwise the holder learns of the loss only at its next keepalive,
// and term-guarded writes (fencing) are the only protection until then.
// Node checks (Config.NodeChecks) trade this safety for faster detection in
// the same way, which is why none are attached by default.
package consul
