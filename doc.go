// Package pgha is a Go SDK for PostgreSQL high availability: the building
// blocks of a Patroni-style failover agent as small, importable packages that
// a platform team embeds into its own tooling or control plane.
//
// # Packages
//
//	dcs          the distributed configuration store: data model, Patroni-compatible
//	             key layout and encodings, the Store interface
//	dcs/etcd     Store on etcd v3 (client/v3)
//	dcs/consul   Store on Consul (sessions, transactions, blocking queries)
//	dcs/memory   complete in-memory Store with an injectable clock, for tests and simulation
//	dcs/dcstest  the conformance suite every Store passes
//	clock        real and virtual time, so timing logic runs under simulation
//	fence        a fence keeper process that stops a primary's postmaster at its
//	             term's deadline when the agent is frozen, wedged or dead
//	watchdog     the Linux watchdog device, which resets a primary's host when
//	             the agent or the whole host freezes
//	election     lease-based leader election: a term with a fencing token and a
//	             local safety deadline
//	pg           control of one PostgreSQL instance: bootstrap, start/stop,
//	             promote, follow, clone, rewind, status
//	pg/pgtest    a simulated pg.Instance (WAL, timelines, crash, promotion,
//	             rewind, synchronous commit) for testing without PostgreSQL
//	failover     the HA loop: the pure decision function, candidate selection,
//	             synchronous replication planning and the Controller that runs
//	             them against a Store, an election and a pg.Instance
//	failover/failovertest  N Controllers over pg/pgtest and dcs/memory, wired in
//	             process: an embedder's test harness
//	healthapi    Patroni-compatible REST health and management endpoints
//	healthapi/client  the typed client of those endpoints, with auth and TLS
//	haproxycfg   HAProxy configuration rendering and a syncer that keeps HAProxy
//	             in step with the cluster
//	agentconfig  the agent's patroni.yml: parsing with PATRONI_*/PGHA_*
//	             overrides, validation naming field and line, and conversion
//	             into Controller, pg, DCS and healthapi options
//
// Imports only point down: dcs imports nothing of pgha's; pg does not import
// dcs; failover is the only package that knows dcs, election, pg and
// watchdog; healthapi and haproxycfg read cluster state through dcs types.
// agentconfig stands above them all: it imports the packages whose options
// it builds, and none of them imports it.
//
// examples/agent assembles these into a node agent configured with
// Patroni's patroni.yml keys (read by agentconfig), examples/ctl is the
// operator CLI, and examples/demo (make demo) runs a three-node cluster
// that fails over.
//
// # Compatibility
//
// A pgha cluster keeps its state where Patroni keeps it
// ("/<namespace>/<scope>/leader" holding the bare member name,
// "members/<name>" JSON, "config", "initialize", "status", "sync",
// "failover", "history", "failsafe"), so patronictl list, vip-manager and the
// HAProxy configurations of the Patroni guides work against it.
//
// # Timing
//
// Defaults (failover.DefaultSettings, election's defaults) are several
// times shorter than Patroni's ttl=30/loop_wait=10, and still safe because
// the lease is renewed on its own goroutine, decoupled from slow PostgreSQL
// work, and every holder computes its deadline locally:
//
//	ttl                    6 s   lease TTL in the DCS
//	keepalive interval     1 s   election: one renewal per second per member;
//	                             a failed one is retried within 250 ms
//	request timeout      500 ms  every DCS call
//	margin               600 ms  deadline = send time of last good keepalive + ttl - margin
//	demote lead          600 ms  a primary fences itself this long before its deadline
//	loop_wait              1 s   longest time between HA cycles (watch events wake it sooner)
//	peer query timeout     1 s   bound on each peer query in the leader race
//	race postponement      6 s   most a streaming replica waits for a live-looking primary
//	primary_start_timeout 15 s   a crashed primary is restarted in place this long
//
// The rule relating them, enforced by failover.NewController: a primary
// rides out a DCS outage of
//
//	ttl - margin - demote lead - 2 x request timeout - keepalive/4 = 3.55 s
//
// counted from the send time s of its last good keepalive, which must cover
// at least three keepalive intervals (an etcd leader election, the loss of
// the member it talks to, a slow fsync). A longer outage fences it at
// s + ttl - margin - demote lead = s + 4.8 s: health answers non-primary and
// PostgreSQL is stopped immediately, while the store cannot expire its
// lease before s + 6 s, so no replica can be promoted before the old
// primary stopped taking writes. Values of ttl and loop_wait in the config
// key are clamped with a warning (loop_wait to at most ttl/2), never
// refused.
//
// When a primary's host dies, failover is bounded by detection (lease
// expiry, at most ttl = 6 s after the last renewal, plus any extension etcd
// grants when its own leader changes) + the next HA cycle (watch event,
// at most loop_wait) + peer queries (at most 1 s) + acquire (at most the
// request timeout) + promote (0.1 to 1 s): about 10 s worst case, 6 to 7 s
// typically, plus routing: haproxycfg's checks (inter 500 ms, fastinter
// 250 ms, rise 1, fall 2) move the read-write port within about a second.
// An agent that stalls while its PostgreSQL still streams WAL to replicas
// postpones the race by at most the race postponement (6 s) instead of
// causing a failover at once.
package pgha
