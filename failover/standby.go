package failover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// StandbyClusterKey is the key of the dynamic configuration that makes a
// cluster a standby cluster (Patroni's standby_cluster).
const StandbyClusterKey = "standby_cluster"

// ErrInvalidStandbyCluster is wrapped by the errors of
// [ParseStandbyCluster].
var ErrInvalidStandbyCluster = errors.New("failover: invalid standby_cluster")

// StandbyCluster is the standby_cluster section of the dynamic
// configuration: the whole cluster replicates from another one (the
// remote), its leader is a standby leader that follows the remote and
// never promotes, and the other members cascade from it. Removing the
// section promotes the standby leader; adding it to a primary cluster
// demotes the primary (fast stop, then it follows the remote).
type StandbyCluster struct {
	// Host and Port are the remote to stream from (the other cluster's
	// leader, or a proxy in front of it). A comma-separated Host lists
	// several hosts; the standby leader then asks for
	// target_session_attrs=read-write, as Patroni does. Port defaults to
	// 5432 when Host is set.
	Host string
	Port int
	// PrimarySlotName is the replication slot the standby leader uses on
	// the remote (create it there, e.g. as a permanent slot of the other
	// cluster); "" for none.
	PrimarySlotName string
	// RestoreCommand, ArchiveCleanupCommand and RecoveryMinApplyDelay are
	// the standby leader's recovery settings (restore_command,
	// archive_cleanup_command, recovery_min_apply_delay); they override a
	// member's own postgresql.recovery_conf.
	RestoreCommand        string
	ArchiveCleanupCommand string
	RecoveryMinApplyDelay string
	// CreateReplicaMethods are the replica-creation methods that create
	// the first member of a standby cluster (its standby leader), tried in
	// this order instead of the member's own postgresql
	// create_replica_methods (pg.CloneRequest.Methods). Each is defined
	// as in postgresql.<name> on the member (basebackup is built in).
	// Without Host only no_leader methods can run: a restore from a
	// backup, after which the standby leader replays the remote's WAL
	// through RestoreCommand. Empty: the member's own methods, from Host.
	// Used only when the standby cluster is bootstrapped (the section of
	// ControllerOptions.BootstrapConfig); later members clone from the
	// standby leader with their own methods, as in any cluster.
	CreateReplicaMethods []string
	// Invalid is set when host, port or restore_command is set but its
	// value is unusable (dropped, with an error). As in Patroni the
	// cluster is still a standby cluster, whose leader then follows no
	// upstream until the section is fixed.
	Invalid bool
}

// Active reports whether sc makes the cluster a standby cluster: it is
// invalid, or any of host, port and restore_command is set (Patroni's
// rule).
func (sc *StandbyCluster) Active() bool {
	return sc != nil && (sc.Invalid || sc.Host != "" || sc.Port != 0 || sc.RestoreCommand != "")
}

// ParseStandbyCluster decodes a standby_cluster value. JSON null (or an
// empty value) yields nil, nil: no standby cluster. Port may be a number
// or a numeric string, recovery_min_apply_delay a string (with a unit) or
// a number of milliseconds, as in Patroni. A value that is not an object
// yields nil and an error. Otherwise the section is returned even with an
// error: each unusable value is dropped and named in the error, and so is
// each unknown key (a typo must not go unnoticed), while whether the
// cluster is a standby cluster follows Patroni's rule on the keys set
// (see StandbyCluster.Invalid). The error wraps ErrInvalidStandbyCluster.
func ParseStandbyCluster(raw json.RawMessage) (*StandbyCluster, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: must be an object: %v", ErrInvalidStandbyCluster, err)
	}
	sc := &StandbyCluster{}
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: "+format, append([]any{StandbyClusterKey, k}, args...)...))
		if k == "host" || k == "port" || k == "restore_command" {
			sc.Invalid = true
		}
	}
	str := func(k string, v json.RawMessage) string {
		var s *string
		if err := json.Unmarshal(v, &s); err != nil {
			bad(k, "must be a string, got %.40s", v)
			return ""
		}
		if s == nil {
			return ""
		}
		if strings.ContainsFunc(*s, func(r rune) bool { return r == 0 || r == '\n' || r == '\r' }) {
			bad(k, "must not contain NUL or line breaks")
			return ""
		}
		return *s
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch k {
		case "host":
			sc.Host = str(k, v)
			if strings.ContainsFunc(sc.Host, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
				bad(k, "must not contain spaces or control characters: %q", sc.Host)
				sc.Host = ""
			}
		case "port":
			sc.Port = parsePort(v, func(format string, args ...any) { bad(k, format, args...) })
		case "primary_slot_name":
			sc.PrimarySlotName = str(k, v)
			if sc.PrimarySlotName != "" {
				if err := pg.ValidSlotName(sc.PrimarySlotName); err != nil {
					bad(k, "%v", err)
					sc.PrimarySlotName = ""
				}
			}
		case "restore_command":
			sc.RestoreCommand = str(k, v)
		case "archive_cleanup_command":
			sc.ArchiveCleanupCommand = str(k, v)
		case "recovery_min_apply_delay":
			var n json.Number
			if err := json.Unmarshal(v, &n); err == nil {
				if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
					bad(k, "must be a whole number of milliseconds or a string with a unit, got %s", n)
				} else {
					sc.RecoveryMinApplyDelay = string(n)
				}
			} else {
				sc.RecoveryMinApplyDelay = str(k, v)
			}
		case "create_replica_methods":
			var list []string
			if string(v) != "null" {
				if err := json.Unmarshal(v, &list); err != nil {
					bad(k, "must be a list of method names, got %.40s", v)
				}
			}
			sc.CreateReplicaMethods = list
		default:
			bad(k, "unknown key")
		}
	}
	if sc.Host != "" && sc.Port == 0 {
		sc.Port = 5432
	}
	if len(errs) > 0 {
		return sc, fmt.Errorf("%w: %w", ErrInvalidStandbyCluster, errors.Join(errs...))
	}
	return sc, nil
}

func parsePort(v json.RawMessage, bad func(format string, args ...any)) int {
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			if string(v) != "null" {
				bad("must be a number, got %.40s", v)
			}
			return 0
		}
		n = json.Number(s)
	}
	if n == "" {
		return 0
	}
	p, err := strconv.Atoi(string(n))
	if err != nil || p < 1 || p > 65535 {
		bad("must be a port number 1-65535, got %q", n)
		return 0
	}
	return p
}

// StandbyClusterOf returns the standby_cluster section of the dynamic
// configuration c (nil when absent, null or not an object) and the
// warnings it calls for: what [ParseStandbyCluster] refused (an unusable
// host, port or restore_command leaves a standby cluster without upstream:
// see StandbyCluster.Invalid), a section that sets none of host, port and
// restore_command (not a standby cluster, as in Patroni).
func StandbyClusterOf(c *dcs.ClusterConfig) (*StandbyCluster, []string) {
	if c == nil {
		return nil, nil
	}
	raw, ok := c.Extra[StandbyClusterKey]
	if !ok {
		return nil, nil
	}
	sc, err := ParseStandbyCluster(raw)
	var warn []string
	switch {
	case err != nil && sc != nil && sc.Invalid:
		warn = append(warn, fmt.Sprintf("%v: still a standby cluster, whose leader follows no upstream until this is fixed", err))
	case err != nil:
		warn = append(warn, fmt.Sprintf("%v: ignored", err))
	}
	if sc == nil {
		return nil, warn
	}
	if !sc.Active() {
		warn = append(warn, "standby_cluster: none of host, port and restore_command is set: not a standby cluster")
	}
	return sc, warn
}

// remoteTargetPrefix starts the Decision.Target (and LocalStatus.Following)
// that names the remote of a standby cluster rather than a member. Member
// names cannot hold a parenthesis or a space (dcs.ValidateName), and the
// rest fingerprints the settings, so that a changed host, slot or
// restore_command re-points the standby leader.
const remoteTargetPrefix = "(standby_cluster"

// target names the remote as a Decision target: host:port and a
// fingerprint of the recovery settings.
func (sc *StandbyCluster) target() string {
	h := fnv.New32a()
	for _, s := range []string{sc.PrimarySlotName, sc.RestoreCommand, sc.ArchiveCleanupCommand, sc.RecoveryMinApplyDelay} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	remote := "archive only"
	if sc.Host != "" {
		remote = sc.Host + ":" + strconv.Itoa(sc.Port)
	}
	return fmt.Sprintf("%s %s #%08x)", remoteTargetPrefix, remote, h.Sum32())
}

// isRemoteTarget reports whether a Decision.Target names the remote of a
// standby cluster (the standby leader follows it) rather than a member.
func isRemoteTarget(target string) bool { return strings.HasPrefix(target, remoteTargetPrefix) }

// followConfig is how the standby leader follows the remote.
func (sc *StandbyCluster) followConfig() pg.FollowConfig {
	cfg := pg.FollowConfig{SlotName: sc.PrimarySlotName, Recovery: map[string]string{}}
	if sc.Host != "" {
		cfg.Upstream = pg.Upstream{Host: sc.Host, Port: sc.Port}
		if strings.Contains(sc.Host, ",") {
			cfg.TargetSessionAttrs = "read-write"
		}
	}
	for k, v := range map[string]string{"restore_command": sc.RestoreCommand,
		"archive_cleanup_command": sc.ArchiveCleanupCommand, "recovery_min_apply_delay": sc.RecoveryMinApplyDelay} {
		if v != "" {
			cfg.Recovery[k] = v
		}
	}
	return cfg
}

// standby returns the active standby_cluster section of the effective
// settings, else nil.
func (d *decider) standby() *StandbyCluster {
	if sc := d.s.StandbyCluster; sc.Active() {
		return sc
	}
	return nil
}

// standbyLeader: this node holds the term in a standby cluster. It never
// promotes: it follows the remote (re-pointing when the section changed);
// a running primary is demoted (demote-cluster: fast stop, keeping the
// term, then follow the remote). A failover key is handled as a primary
// handles it (switchover: named or best candidate, scheduled_at, pause
// rules), except that the hand-over is CodeStandbySwitchover: both the
// standby leader and the candidate replay the remote's WAL, so there is no
// shutdown checkpoint to wait for (see Controller.switchover).
func (d *decider) standbyLeader(sc *StandbyCluster) Decision {
	target := sc.target()
	if d.l.Role == RolePrimary {
		if d.c.IsPaused() {
			return decision(ActionNoop, CodePausedLeader, "paused: standby_cluster is set but the primary is not demoted while paused")
		}
		dec := decision(ActionDemote, CodeDemoteCluster, "standby_cluster is set: demoting the primary (fast stop, keeping the term) to follow %s", target).
			demote(DemoteCluster, false, target)
		return dec
	}
	if f := d.c.Failover; !f.IsZero() {
		return d.switchover(f)
	}
	if d.l.Following != target {
		dec := decision(ActionFollow, CodeStandbyLeaderFollow, "standby leader: following the remote %s, was following %q", target, d.l.Following)
		dec.Target = target
		return dec
	}
	return decision(ActionNoop, CodeStandbyLeader, "standby leader following the remote %s", target)
}

// bootstrapStandby creates the first member of a standby cluster: a
// replica cloned from the remote (or created by the section's
// create_replica_methods, e.g. restored from a backup), started following
// it. The Controller then takes the leader key (CodeStandbyBootstrap) and
// publishes the initialize key with the remote's system identifier.
func (c *Controller) bootstrapStandby(ctx context.Context, sc *StandbyCluster) error {
	cfg := sc.followConfig()
	if cfg.Upstream.IsZero() && len(sc.CreateReplicaMethods) == 0 {
		return fmt.Errorf("failover: bootstrap a standby cluster: %w: standby_cluster has no host to clone from and no create_replica_methods (a restore_command-only standby cluster needs a no_leader method, e.g. a restore from a backup)", pg.ErrInvalidConfig)
	}
	from := "the remote " + cfg.Upstream.Host + ":" + strconv.Itoa(cfg.Upstream.Port)
	if cfg.Upstream.IsZero() {
		from = "no upstream"
	}
	if len(sc.CreateReplicaMethods) > 0 {
		from += " with create_replica_methods " + strings.Join(sc.CreateReplicaMethods, ", ")
	}
	if err := c.inst.Clone(ctx, pg.CloneRequest{Upstream: cfg.Upstream, Replace: true, Methods: sc.CreateReplicaMethods}); err != nil {
		return fmt.Errorf("failover: bootstrap a standby cluster: clone from %s: %w", from, err)
	}
	cfg.ApplicationName = c.o.Name
	if err := c.inst.Follow(ctx, cfg); err != nil {
		return fmt.Errorf("failover: bootstrap a standby cluster: follow the remote: %w", err)
	}
	c.mu.Lock()
	c.b.mem = c.b.mem.followed(sc.target())
	c.mu.Unlock()
	return nil
}

// demoteCluster turns the primary of a cluster that became a standby
// cluster into its standby leader: a fast stop (every WAL sender gets the
// shutdown checkpoint first), then a start following the remote. The term
// is kept: the node holds the leader key throughout, so no other member
// races, and they follow it again once it runs as a replica.
func (c *Controller) demoteCluster(ctx context.Context, obs Observation, dec Decision) error {
	sctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	if err := c.inst.Demote(sctx, pg.StopFast, c.followConfig(obs.Cluster, dec.Target)); err != nil {
		return fmt.Errorf("failover: demote-cluster: %w", err)
	}
	c.mu.Lock()
	c.b.mem = c.b.mem.followed(dec.Target)
	c.mu.Unlock()
	c.emit(EventStandbyLeader, "demoted the primary to standby leader of "+dec.Target)
	return nil
}

// isStandbyLeader reports whether this node leads a standby cluster: it
// holds the term, its server last ran as a replica, and the cluster is a
// standby cluster; c.mu held.
func (c *Controller) isStandbyLeader() bool {
	return c.b.mem.lastRole == RoleReplica && c.lead.held() != nil && c.standbyOf(c.b.cluster).Active()
}

// publishedRole is the role this node publishes (member key, health API):
// the server's role, standby_leader for the leader of a standby cluster;
// c.mu held.
func (c *Controller) publishedRole() string {
	if c.isStandbyLeader() {
		return dcs.RoleStandbyLeader
	}
	return string(c.b.mem.lastRole)
}
