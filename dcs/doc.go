// Package dcs defines pgha's view of the distributed configuration store
// (DCS): the cluster data model, the Patroni-compatible key layout and value
// encodings, and the Store interface that every backend (dcs/etcd,
// dcs/memory, dcs/consul) implements.
//
// # Layout
//
// All keys live under a cluster prefix, "/<namespace>/<scope>/" (see
// [Prefix]), exactly where Patroni keeps them, so patronictl, vip-manager and
// confd templates read a pgha cluster unchanged:
//
//	leader            bare member name, bound to the holder's lease
//	members/<name>    member JSON, bound to that member's lease
//	config            dynamic configuration JSON (compare-and-swap)
//	initialize        system identifier (create-if-absent)
//	status            {"optime":..,"slots":{..},"retain_slots":[..]}
//	sync              {"leader":..,"sync_standby":..,"quorum":..} (compare-and-swap)
//	failover          {"leader":..,"member":..,"scheduled_at":..} (compare-and-swap)
//	history           [[timeline,lsn,reason,timestamp,new_leader],...]
//	failsafe          {"<member>":"<api_url>",...}
//
// # Backends and the typed layer
//
// A [Store] moves raw bytes: it reads a linearizable [Snapshot] of the
// prefix, watches it, manages leases and performs conditional writes
// ([Cond]). This package turns snapshots into a [Cluster] with [Parse] and
// values into bytes with each type's Encode method. Parsing is tolerant: an
// undecodable value is recorded in [Cluster.Problems] and the key is treated
// as absent, so one bad key never hides the rest of the cluster.
// A watcher keeps its own view current with [Snapshot.Apply]: the snapshot
// it started its watch from, with every [WatchResponse] applied in order.
//
// Callers branch on the sentinel errors [ErrConflict], [ErrUnavailable],
// [ErrNotFound] and [ErrLeaseLost] with errors.Is.
package dcs
