// Package haproxycfg renders a role-aware HAProxy configuration for a pgha
// (or Patroni) cluster and keeps a running HAProxy in step with the cluster
// membership stored in the DCS.
//
// # Routing model
//
// The rendered configuration lists every member in every listener and lets
// HAProxy's HTTP health checks against each member's REST API decide where
// traffic goes, exactly like the HAProxy templates of the Patroni guides:
//
//	read-write  (listen primary)   option httpchk GET /primary   200 only on the leader
//	read-only   (listen replicas)  option httpchk GET /replica   200 on streaming replicas
//	                               (/replica?lag=<bytes> drops lagging ones; the
//	                               primary may be added as a backup server)
//	sync        (listen sync)      option httpchk GET /sync      200 on synchronous standbys
//
// Roles therefore never appear in the configuration: it changes only when a
// member joins, leaves or moves, and a role change is followed by HAProxy
// alone, without a reload.
//
// # Runtime-API routing
//
// The DCS knows of a leader change before any health check can. A [Router]
// (run by the [Syncer] when [SyncerOptions.Router] is set, with
// [Options.RuntimeRouting] in the rendered file) pushes the leader key into
// the read-write listener through HAProxy's runtime API: the old primary is
// put into maintenance and its sessions are shut down the moment the key
// changes, and the new leader is enabled as soon as its own /primary
// answers 200, without waiting for HAProxy's rise checks; a switchover
// request in the DCS, or a failed probe of the leader's /primary, drains
// the leader first. A server is
// routed writes only when the DCS names it and its /primary agrees; a proxy
// cut off from the DCS keeps its last verdict and never enables another
// server (see [Router]).
//
// # Timing
//
// HAProxy's defaults (inter 2s) and the guides' "inter 3s fall 3 rise 2" take
// 6 to 9 s to notice a demoted primary. The defaults here ([DefaultOptions])
// are inter 500ms, fastinter 250ms, downinter 500ms, rise 1, fall 2:
//
//   - A primary that stops answering 200 on /primary fails its next regular
//     check at most inter = 500 ms later; HAProxy then re-checks at fastinter
//     and the second failure (fall 2) marks it down at most 500 + 250 = 750 ms
//     after the change (plus the check's own round trip), and its sessions are
//     cut by on-marked-down shutdown-sessions.
//   - A member that starts answering 200 is checked every downinter = 500 ms
//     while down, and one success (rise 1) marks it up: at most 500 ms.
//
// A role change is thus routed in well under a second. The asymmetry is
// deliberate: a false "down" on the primary is expensive (it kills every
// session), so one lost or slow check must not cause it (fall 2); a false
// "up" is not a real risk because the health API answers 200 on /primary
// only while the member holds the leader lease, so one answer is enough
// (rise 1). The cost is about 2 to 4 checks per second per member and
// listener, negligible for an API that answers from cached state.
//
// # Input safety
//
// Member names and addresses come from the DCS, which any member can write.
// Every value that reaches the configuration is validated against a strict
// character set (names per [dcs.ValidateName], hosts as IP literals or DNS
// host names, ports 1-65535, absolute file paths without spaces, quotes,
// '#', '$' or backslashes), so no input can add, end or comment out a
// configuration line. Invalid input is rejected with a [*FieldError] naming
// the member and the field.
//
// # Applying changes
//
// [Syncer] watches the DCS, renders, writes the file atomically, validates it
// with "haproxy -c" and reloads a master-worker HAProxy ([Process]) only
// when the rendered bytes changed. See [Syncer] for why a graceful reload was
// chosen over runtime-API server changes.
//
// [Router] pushes DCS leader changes into the read-write listener through
// the runtime API (above).
//
// [RenderKeepalived] renders the Keepalived side of the two-HAProxy layout:
// a VRRP instance holding a virtual IP while the local HAProxy serves, as
// [CheckServing] decides (its runtime API reports a read-write server up
// and the read-write port accepts; a live process is not enough), with
// unicast peers, authentication and notify hooks. [Keepalived] runs Debian's
// keepalived; [CommandReloader] reloads an HAProxy that systemd runs.
package haproxycfg
