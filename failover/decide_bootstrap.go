package failover

import (
	"cmp"
	"slices"

	"github.com/pgha/pgha/dcs"
)

// dataDir covers an empty data directory (bootstrap race or clone) and the
// initialize key (publishing it, system identifier mismatch).
func (d *decider) dataDir() (Decision, bool) {
	init := d.c.Initialize
	if d.l.DataEmpty {
		switch {
		case d.holding:
			return decision(ActionRelease, CodeEmptyDataRelease, "holding the term with an empty data directory: releasing it"), true
		case d.c.IsPaused():
			return decision(ActionWait, CodePausedNoClone, "paused: not creating a data directory"), true
		case init == nil && d.obs.CanBootstrap && !d.obs.Tags.NoFailover():
			return decision(ActionBootstrap, CodeBootstrapRace, "no initialize key: racing to initialize a new cluster"), true
		case init == nil && !d.obs.CanBootstrap:
			return decision(ActionWait, CodeWaitBootstrap, "no initialize key and this node has no bootstrap configuration: waiting for one that does"), true
		case init == nil:
			return decision(ActionWait, CodeWaitBootstrap, "no initialize key and this node is tagged nofailover: waiting for another to bootstrap"), true
		case *init == "":
			return decision(ActionWait, CodeWaitBootstrap, "a bootstrap is in progress elsewhere: waiting for it"), true
		}
		src := d.cloneSource()
		if src == "" {
			return decision(ActionWait, CodeWaitCloneSource, "empty data directory and no running leader or clonefrom member to clone from"), true
		}
		dec := decision(ActionClone, CodeClone, "empty data directory: cloning from %s", src)
		dec.Target = src
		return dec, true
	}
	if init == nil || *init == "" {
		switch {
		case d.obs.BootstrapOwner && d.holding:
			return decision(ActionSetInitialize, CodeFinishBootstrap, "bootstrap done and term held: publishing system identifier %s", d.l.SystemID), true
		case d.obs.BootstrapOwner && d.l.Running() && d.l.Role == RoleReplica && d.standby() != nil:
			return decision(ActionAcquire, CodeStandbyBootstrap, "cloned the remote of a new standby cluster: taking the leader key as its standby leader"), true
		case d.obs.BootstrapOwner && !d.l.Running() && d.standby() != nil:
			return d.start(RoleReplica, d.standby().target(), CodeStandbyBootstrap, "cloned the remote of a new standby cluster: starting to follow it"), true
		case d.obs.BootstrapOwner && !d.l.Running():
			dec := decision(ActionStart, CodeFinishBootstrap, "bootstrap owner with a stopped server: starting it as primary")
			dec.StartAs = RolePrimary
			return dec, true
		case d.obs.BootstrapOwner:
			return decision(ActionWait, CodeFinishBootstrap, "bootstrap in progress on this node"), true
		case init != nil:
			return decision(ActionWait, CodeWaitBootstrap, "a bootstrap is in progress elsewhere: waiting for it"), true
		case d.holding || (!d.l.Running() && d.l.WasPrimary):
			return decision(ActionSetInitialize, CodeSetInitialize, "no initialize key: publishing my system identifier %s", d.l.SystemID), true
		default:
			return decision(ActionWait, CodeNoInitializeReplica, "no initialize key while this node is a replica: start the primary's agent first"), true
		}
	}
	if d.l.SystemID != "" && d.l.SystemID != *init {
		return decision(ActionWait, CodeSystemIDMismatch, "local system identifier %s differs from the cluster's %s: this data directory belongs to another cluster",
			d.l.SystemID, *init), true
	}
	return Decision{}, false
}

// cloneSource picks where to clone from: a running member tagged clonefrom
// (most WAL first, then name, so the choice is deterministic), else the
// running leader, else "". After a reinitialize with from_leader only the
// running leader will do.
func (d *decider) cloneSource() string {
	if d.l.CloneFromLeader {
		// POST /reinitialize with from_leader: the leader only.
		if lm := d.c.LeaderMember(); lm != nil && lm.Name != d.me && lm.State == dcs.StateRunning {
			return lm.Name
		}
		return ""
	}
	var from []*dcs.Member
	for _, m := range d.c.Members {
		if m != nil && m.Name != d.me && m.State == dcs.StateRunning && m.Tags.Bool(dcs.TagCloneFrom) {
			from = append(from, m)
		}
	}
	if len(from) > 0 {
		slices.SortFunc(from, func(a, b *dcs.Member) int {
			if c := cmp.Compare(b.LSN(), a.LSN()); c != 0 {
				return c
			}
			return cmp.Compare(a.Name, b.Name)
		})
		return from[0].Name
	}
	if lm := d.c.LeaderMember(); lm != nil && lm.Name != d.me && lm.State == dcs.StateRunning {
		return lm.Name
	}
	return ""
}
