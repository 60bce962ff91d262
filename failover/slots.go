package failover

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// slotState is the Controller's memory of the replication slots on its
// server; guarded by opMu (publish and promote run in the loop).
type slotState struct {
	// unneededSince is when a physical slot was first seen that no member
	// and no permanent slot needs; it is dropped member_slots_ttl later.
	unneededSince map[string]time.Time
	// warned is the last warning logged per slot, so a lasting problem is
	// logged once.
	warned map[string]string
	// logical is a replica's memory of its permanent logical slot copies.
	logical logicalSync
	// positions are the leader's permanent slot positions, for the status
	// key (slots_logical.go).
	positions map[string]int64
}

// wantedSlots returns the slots this node's server should have, by name.
// On the leader: one physical slot per other member (as Patroni, also for
// a cascading replica, whose slot the leader then advances; it may fall
// back to streaming from the leader) and the permanent slots. On a
// replica: one per member that replicates from it (replicatefrom).
// Members tagged nostream stream from no one and get none. Pure.
func wantedSlots(cl *dcs.Cluster, me string, leader bool, p slotPolicy) map[string]permanentSlot {
	want := map[string]permanentSlot{}
	if cl == nil {
		return want
	}
	if p.useSlots {
		for _, m := range cl.Members {
			if m == nil || m.Name == me || m.Tags.Bool(dcs.TagNoStream) {
				continue
			}
			if leader || m.Tags.String(dcs.TagReplicateFrom) == me {
				want[pg.SlotName(m.Name)] = permanentSlot{Type: "physical"}
			}
		}
	}
	if leader {
		for name, s := range p.permanent {
			want[name] = s
		}
	}
	return want
}

// ensureSlots makes the server's replication slots what the cluster
// needs: it creates the wanted ones, advances the leader's slots of
// cascading replicas to their published positions, and drops a physical
// slot nothing needs once it has been unneeded, and unused, for
// member_slots_ttl, so that a member removed for good does not keep WAL
// on the primary until the disk fills. Slots matching ignore_slots are
// left alone, and so are logical slots the configuration does not name
// (with a warning): dropping a consumer's slot loses its data for good.
// On a replica it then keeps the copies of the permanent logical slots
// (syncLogicalSlots); on the leader it records the permanent slots'
// positions for the status key. c.opMu held.
func (c *Controller) ensureSlots(ctx context.Context, cl *dcs.Cluster, leader bool) {
	if cl == nil {
		return
	}
	p, _ := slotPolicyOf(cl.Config)
	want := wantedSlots(cl, c.o.Name, leader, p)
	if !leader && p.useSlots && c.lead.held() != nil && c.standbyOf(cl).Active() {
		// The standby leader serves the standby cluster's members as a
		// primary serves its own: each streams through its member slot.
		maps.Copy(want, wantedSlots(cl, c.o.Name, true, slotPolicy{useSlots: true}))
	}
	sctx, cancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout+time.Second)
	defer cancel()
	have, err := c.inst.Slots(sctx)
	if err != nil {
		c.warnSlot("", "listing replication slots failed: "+err.Error())
		return
	}
	st := &c.slots
	if st.unneededSince == nil {
		st.unneededSince = map[string]time.Time{}
	}
	now := c.clk.Now()
	present := map[string]bool{}
	for _, s := range have {
		present[s.Name] = true
		if w, ok := p.permanent[s.Name]; ok && !leader && w.Type == "logical" {
			// A copy from the primary: syncLogicalSlots keeps it.
			delete(st.unneededSince, s.Name)
			if s.Type != w.Type || s.Database != w.Database || s.Plugin != w.Plugin {
				c.warnSlot(s.Name, fmt.Sprintf("slot %s exists as %s %s/%s, not as configured (logical %s/%s); not replaced by a copy from the primary",
					s.Name, s.Type, s.Database, s.Plugin, w.Database, w.Plugin))
			}
			continue
		}
		if p.ignored(s.Name, s.Type, s.Database, s.Plugin) {
			delete(st.unneededSince, s.Name)
			continue
		}
		if w, ok := want[s.Name]; ok {
			delete(st.unneededSince, s.Name)
			if w.Type != s.Type || (w.Type == "logical" && (w.Database != s.Database || w.Plugin != s.Plugin)) {
				c.warnSlot(s.Name, fmt.Sprintf("slot %s exists as %s %s/%s, not as configured (%s %s/%s); left as it is",
					s.Name, s.Type, s.Database, s.Plugin, w.Type, w.Database, w.Plugin))
			}
			if leader && s.Type == "physical" && !s.Active {
				c.advanceMemberSlot(sctx, cl, s)
			}
			continue
		}
		if s.Type != "physical" {
			c.warnSlot(s.Name, fmt.Sprintf("logical slot %s is not in the slots or ignore_slots configuration; pgha leaves it", s.Name))
			continue
		}
		if s.Active {
			delete(st.unneededSince, s.Name)
			continue
		}
		since, ok := st.unneededSince[s.Name]
		if !ok {
			st.unneededSince[s.Name] = now
			c.log.Info("failover: replication slot no longer needed; dropped after member_slots_ttl", "slot", s.Name, "member_slots_ttl", p.memberTTL)
			since = now
		}
		if now.Sub(since) < p.memberTTL {
			continue
		}
		if err := c.inst.DropSlot(sctx, s.Name); err != nil {
			c.warnSlot(s.Name, "dropping slot failed: "+err.Error())
			continue
		}
		delete(st.unneededSince, s.Name)
		c.log.Info("failover: dropped a replication slot no member needed for member_slots_ttl", "slot", s.Name, "member_slots_ttl", p.memberTTL)
	}
	for name := range st.unneededSince {
		if !present[name] {
			delete(st.unneededSince, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if present[name] {
			continue
		}
		w := want[name]
		var err error
		if w.Type == "logical" {
			lc, ok := c.inst.(pg.LogicalSlotCreator)
			if !ok {
				c.warnSlot(name, fmt.Sprintf("logical slot %s: the instance cannot create logical slots", name))
				continue
			}
			err = lc.CreateLogicalSlot(sctx, name, w.Plugin, w.Database)
		} else {
			err = c.inst.CreateSlot(sctx, name)
		}
		if err != nil {
			c.warnSlot(name, fmt.Sprintf("creating replication slot %s failed: %v", name, err))
		}
	}
	// Last: a replica's copy may restart the server.
	if leader {
		c.onLeaderSlots(have, p)
	} else {
		c.syncLogicalSlots(ctx, cl, have, p)
	}
}

// advanceMemberSlot moves an unused member slot on the leader to the
// position its member last published, for a cascading replica that
// streams from another member.
func (c *Controller) advanceMemberSlot(ctx context.Context, cl *dcs.Cluster, s pg.Slot) {
	adv, ok := c.inst.(pg.SlotAdvancer)
	if !ok {
		return
	}
	for _, m := range cl.Members {
		if m == nil || pg.SlotName(m.Name) != s.Name || m.Tags.String(dcs.TagReplicateFrom) == "" {
			continue
		}
		if lsn := m.LSN(); lsn > 0 && pg.LSN(lsn) > s.RestartLSN {
			if err := adv.AdvanceSlot(ctx, s.Name, pg.LSN(lsn)); err != nil {
				c.warnSlot(s.Name, "advancing slot failed: "+err.Error())
			}
		}
		return
	}
}

// warnSlot logs msg for slot unless it was the last message for it.
func (c *Controller) warnSlot(slot, msg string) {
	st := &c.slots
	if st.warned == nil {
		st.warned = map[string]string{}
	}
	if st.warned[slot] == msg {
		return
	}
	st.warned[slot] = msg
	c.log.Warn("failover: "+msg, "slot", slot)
}
