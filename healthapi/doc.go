// Package healthapi is pgha's HTTP face: Patroni-compatible health checks
// for load balancers and orchestrators, the GET /patroni status document that
// peers and tools read, Prometheus metrics (served by healthapi/metrics), and the authenticated management
// endpoints (switchover, failover, restart, reload, reinitialize, config).
//
// # Cached state
//
// Every read answer comes from a [NodeState] snapshot that the HA loop (the
// future failover.Controller) publishes through a [StateSource], typically a
// [StateCache]. A request never waits on PostgreSQL or the DCS, so a stalled
// database or an unreachable etcd cannot make HAProxy's checks time out; the
// snapshot carries the times needed to judge its own freshness
// (DCSLastSeen, TTL, NextRun). Mutating requests are delegated to a
// [Manager], so this package knows nothing of failover internals.
//
// # Health endpoints
//
// Status codes and query parameters follow Patroni's REST API: 200 when the
// node has the asked-for role, 503 otherwise, with the status JSON as body on
// GET and no body on HEAD and OPTIONS (what HAProxy's httpchk sends).
//
//	/, /primary, /read-write, /master   holds the leader lock, not a standby cluster
//	/leader                             holds the leader lock
//	/standby-leader, /standby_leader    holds the lock in a standby cluster
//	/replica                            running replica; ?lag=, ?replication_state=, ?tag_<k>=<v>
//	/read-only                          leader, or /replica
//	/sync, /synchronous, /quorum        listed synchronous (or quorum) standby passing /replica
//	/async, /asynchronous               replica that is not a synchronous standby
//	/read-only-sync, /read-only-quorum  primary, or the synchronous/quorum replica
//	/health                             PostgreSQL is running
//	/liveness                           the HA loop is not stuck
//	/readiness                          leader, or a streaming replica within ?lag (?mode=apply|write)
//	/streaming                          pgha: a replica streaming from its upstream (see below)
//
// ?lag= takes bytes or a size with a unit, PostgreSQL style and base 1024:
// 1048576, 16kB, 10MB, 1GB, 1TB (units are case-insensitive, a space is
// allowed). Unlike Patroni, which silently ignores a lag it cannot parse, a
// malformed ?lag= or ?mode= answers 400, so a typo in a load balancer
// configuration is seen at once instead of routing to lagging replicas.
//
// # Streaming replicas (pgha addition)
//
// Patroni's /replica answers 200 for a replica that is still replaying from
// the WAL archive or has fallen far behind, which makes load balancers route
// reads to stale nodes (Patroni issues #3491, #1128, #772, #1462). pgha keeps
// /replica exactly as Patroni defines it and adds GET/HEAD /streaming: 200
// only for a running replica whose WAL receiver is streaming
// (replication_state "streaming") and whose WAL replay is not paused. It
// accepts the same ?lag= and ?tag_<k>=<v> parameters, so
// "/streaming?lag=16MB" is the check to use for read traffic that must be
// fresh. "/replica?replication_state=streaming" remains available and
// behaves as in Patroni.
//
// # Management endpoints
//
// POST /switchover, /failover, /restart, /reload, /reinitialize, /failsafe,
// DELETE /switchover and /restart, PATCH and PUT /config require
// authentication: HTTP basic credentials compared in constant time, a
// verified client certificate, or both, optionally restricted to an
// allowlist of networks.
// [New] refuses a handler with a [Manager] and no authentication unless
// [Options.AllowUnauthenticated] is set. Answers carry Patroni's status codes
// and messages (plain text), so patronictl and scripts written for Patroni
// read them unchanged.
//
// # Failsafe mode
//
// With failsafe_mode on, a primary that cannot reach the DCS stays primary
// only while every member listed in the failsafe key confirms it: it sends
// each a POST /failsafe (see [PostFailsafe] and [FailsafeRequest]) instead
// of renewing its lease. The handler passes a valid request to a Manager
// that implements [FailsafeManager] and answers as Patroni does:
//
//	200 "Accepted"             the member takes the sender as leader for one
//	                           ttl; header lsn: its max(received, replayed)
//	                           WAL position in decimal, when known
//	500 "Running as a leader"  this node is itself a primary
//	500 <error text>           the Manager failed otherwise
//	502                        failsafe_mode is off in the cached config
//	503                        the Manager does not take part in failsafe mode
//	400, 411, 413              malformed, missing or oversized body
//
// The body may also carry "ttl", a pgha extension ([FailsafeRequest].TTL)
// that Patroni ignores.
//
// The endpoint is authenticated like the others. Patroni exempts it only
// from allowlist_include_members, the addresses it derives from the member
// keys; [Auth.Allowlist] is the equivalent of Patroni's static
// restapi.allowlist, which Patroni enforces here too, so when failsafe mode
// is used the allowlist must include the members' addresses. GET /failsafe
// serves the cached failsafe key (502 when the mode is off), and /metrics
// reports patroni_failsafe_mode_enabled and patroni_failsafe_member
// ([NodeState.FailsafeEnabled], [NodeState.FailsafeMember]).
//
// # Deliberate differences from Patroni
//
//   - Paths are matched exactly (one trailing slash allowed), not by
//     substring; an unknown path answers 404 rather than 503.
//   - GET /cluster, /history and /config answer from the cached snapshot
//     instead of reading the DCS live.
//   - A malformed ?lag= or ?mode= answers 400 (see above).
//   - HEAD and OPTIONS answers carry Go's minimal headers (Date,
//     Content-Length: 0); HAProxy reads only the status line.
//   - A missing client certificate answers 403 (Patroni's verify_client);
//     missing or wrong basic credentials answer 401 with WWW-Authenticate.
//   - POST /citus and /mpp are not served.
//   - POST /failsafe refuses, with 400, a body whose name is not a valid
//     member name, whose URLs are not printable or longer than 2048 bytes,
//     or whose slots are not slot names mapped to non-negative integers;
//     Patroni takes such a body as is.
//
// # Metrics
//
// GET /metrics serves [Options.Metrics]; without it, 404. Package
// healthapi/metrics provides Patroni's metrics: Prometheus text produced by
// client_golang from a registry private to the exporter, with Patroni's
// patroni_* names where the meaning is the same and pgha_* for pgha's own
// series; see [NodeState] for what the producer supplies. It is a package
// of its own so that importing healthapi, or failover, which uses
// healthapi's types, does not link the Prometheus client.
package healthapi
