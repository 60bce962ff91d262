// Package pgha is a Go SDK for PostgreSQL high availability: the building
// blocks of a Patroni-style failover agent as small, importable packages that
// a platform team embeds into its own tooling or control plane.
//
// # Packages
//
//	dcs          the distributed configuration store: data model, Patroni-compatible
//	             key layout and encodings, the Store interface
//	dcs/etcd     Store on etcd v3 (client/v3)
//	dcs/memory   complete in-memory Store with an injectable clock, for tests and simulation
//	dcs/dcstest  the conformance suite every Store passes
//	clock        real and virtual time, so timing logic runs under simulation
//	election     lease-based leader election: a term with a fencing token and a
//	             local safety deadline
//	pg           control of one PostgreSQL instance: bootstrap, start/stop,
//	             promote, follow, clone, rewind, status
//	healthapi    Patroni-compatible REST health and management endpoints
//	haproxycfg   HAProxy configuration rendering and a syncer that keeps HAProxy
//	             in step with the cluster
//
// Imports only point down: dcs imports nothing of pgha's; pg does not import
// dcs; healthapi and haproxycfg read cluster state through dcs types.
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
// Failover after a node dies is bounded by detection (lease expiry: at most
// the lease TTL after the last successful keepalive) plus promotion (well under
// a second) plus routing (HAProxy's check interval times its fall/rise
// counts). The election package documents its defaults and the rule that keeps
// a holder's local deadline strictly before the moment the store can expire
// its lease.
package pgha
