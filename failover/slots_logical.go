package failover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// CopyBackoff is the least time between two restarts of a replica to
// install permanent logical slots copied from the primary.
//
// Permanent logical slots on replicas, so that they survive a failover:
//
// PostgreSQL 15 has no failover slots (PostgreSQL 17's sync_replication_slots
// does this natively). pgha does what Patroni does on PostgreSQL 11 to 16,
// checked on PostgreSQL 15:
//
//   - The leader publishes the position of each permanent slot in the
//     status key's `slots` (a logical slot's confirmed_flush_lsn, a
//     physical one's restart_lsn), as Patroni does.
//   - A replica that lacks a permanent logical slot the leader publishes
//     copies it: it reads the slot's state file on the primary
//     (pg_read_binary_file of pg_replslot/<name>/state), writes it into its
//     own pg_replslot with the server stopped, and starts again, because
//     PostgreSQL loads slots only at start. This restart is the only one
//     slot sync ever causes.
//   - From then on the replica moves its copy forward every cycle with
//     pg_replication_slot_advance, which PostgreSQL 15 runs on a standby
//     (only decoding, pg_logical_slot_get_changes, is refused there), to
//     the position the current leader published, never past its own replay
//     position. A copy is therefore never ahead of what the consumer
//     confirmed on the primary: after a failover the consumer may see again
//     changes it had already confirmed since the last published position
//     (at most about one loop_wait of them, plus what the replica had not
//     yet replayed), and it never misses a change the new primary has.
//   - A copy whose advance fails because the WAL it needs is gone, or
//     because it was invalidated, is copied again, but only once the
//     primary's slot has moved past it (otherwise the new copy would fail
//     the same way and every attempt would restart the replica). A copy
//     older than the replica's oldest WAL (an idle consumer's slot, on a
//     replica cloned after it was created) is refused before the restart.
//
// The restart is held back while it would hurt: while the cluster is
// paused, while a switchover or failover is requested (the replica may be
// the candidate), while there is no running leader to copy from, while the
// replica does not stream, for members tagged nofailover (never promoted,
// so a copy is of no use) or nostream, and for CopyBackoff after the last
// attempt, so that a copy that cannot succeed does not restart the replica
// over and over. A copy needs hot_standby_feedback on the replica: the
// install is refused, with a warning, when it is off.
//
// A copy is safe to use after promotion only once the primary holds the
// catalog rows it needs: the replica's physical slot on the primary carries
// a catalog_xmin (from hot_standby_feedback) that is not newer than the
// copy's, and the primary's own slot had not moved past that point when the
// feedback arrived (Patroni's readiness rule). The replica checks this on
// the primary (every cycle for a while after a copy, then every few
// seconds) until it holds and logs when a slot becomes safe.
// Like Patroni, pgha does not let readiness decide who is promoted: a
// failover must not wait for a logical consumer, and the catalog rows are
// usually still there. A node promoted while a copy was not confirmed safe
// logs a warning naming the slots; their consumers should be checked.
const CopyBackoff = time.Minute

// readyCheckInterval is how often a replica asks the primary whether its
// pending copies are safe yet, after the first readyCheckEager following a
// copy, during which it asks every cycle (feedback usually arrives within
// a second or two).
const (
	readyCheckInterval = 5 * time.Second
	readyCheckEager    = 30 * time.Second
)

// slotAdvanceTimeout bounds one pg_replication_slot_advance on a replica;
// a slot far behind catches up over several cycles.
const slotAdvanceTimeout = 10 * time.Second

// logicalSync is a replica's memory of the permanent logical slots it
// copies from the primary; part of slotState (opMu).
type logicalSync struct {
	// started is set after the first sync as a replica (since the
	// Controller started or since it last led), when the copies found on the
	// server were queued for the readiness check.
	started bool
	// lastCopy is when the server was last restarted (or that was tried)
	// to install copies.
	lastCopy time.Time
	// pending are copies not yet confirmed safe to use after a failover:
	// the primary's catalog_xmin of its slot when the replica's physical
	// slot first carried one, 0 until then.
	pending map[string]uint32
	// recopy are copies whose advance failed with pg.ErrSlotUnusable.
	recopy map[string]bool
	// lastReadyCheck is when the primary was last asked about pending.
	lastReadyCheck time.Time
}

// replicaSlotInput is what planReplicaSlots decides on.
type replicaSlotInput struct {
	Cluster *dcs.Cluster
	Me      string
	Tags    dcs.Tags
	Policy  slotPolicy
	// Have are the slots on the local server.
	Have []pg.Slot
	// Status is the local server's.
	Status pg.Status
	// StatusCurrent is whether the status key was written in the current
	// leader's term: a former leader's positions are on another timeline
	// and must not move a copy.
	StatusCurrent bool
	Recopy        map[string]bool
	Now           time.Time
	LastCopy      time.Time
}

// slotAdvance is one pg_replication_slot_advance to run.
type slotAdvance struct {
	Name, Database string
	LSN            pg.LSN
}

// replicaSlotPlan is what a replica does about its permanent logical
// slots in one cycle.
type replicaSlotPlan struct {
	Advance []slotAdvance
	// Copy are the slots to copy from the primary (a restart).
	Copy []string
	// Wait says why slots that need a copy are not copied now ("" when
	// none wait).
	Wait string
}

// planReplicaSlots is the replica's policy for permanent logical slots.
// Pure.
func planReplicaSlots(in replicaSlotInput) replicaSlotPlan {
	var plan replicaSlotPlan
	cl := in.Cluster
	logical := logicalPermanent(in.Policy)
	if cl == nil || len(logical) == 0 || in.Status.Role != pg.RoleReplica {
		return plan
	}
	if in.Tags.Bool(dcs.TagNoStream) {
		return plan
	}
	have := map[string]pg.Slot{}
	for _, s := range in.Have {
		have[s.Name] = s
	}
	var positions map[string]int64
	if in.StatusCurrent && cl.Status != nil && sameTimelineAsLeader(cl, in.Status) {
		positions = cl.Status.Slots
	}
	var need []string
	for _, name := range logical {
		want := in.Policy.permanent[name]
		pos, published := positions[name]
		local, exists := have[name]
		switch {
		case !exists:
			if published {
				need = append(need, name)
			}
		case local.Type != "logical" || local.Database != want.Database || local.Plugin != want.Plugin:
			// Not ours to replace: ensureSlots warns.
		case in.Recopy[name]:
			need = append(need, name)
		case published:
			target := min(pg.LSN(pos), in.Status.ReplayLSN)
			if local.ConfirmedFlushLSN < target {
				plan.Advance = append(plan.Advance, slotAdvance{Name: name, Database: want.Database, LSN: target})
			}
		}
	}
	if len(need) == 0 {
		return plan
	}
	leader := cl.LeaderMember()
	switch {
	case in.Tags.NoFailover():
		plan.Wait = "nofailover: logical slots are copied only to members that can be promoted"
	case cl.IsPaused():
		plan.Wait = "the cluster is paused: no restart to copy logical slots"
	case cl.Failover != nil && !cl.Failover.IsZero():
		plan.Wait = "a switchover or failover is pending: no restart to copy logical slots"
	case leader == nil || leader.Name == in.Me || leader.State != dcs.StateRunning:
		plan.Wait = "no running leader to copy logical slots from"
	case in.Status.Receiver != pg.ReceiverStreaming:
		plan.Wait = "not streaming: logical slots are copied once replication runs"
	case !in.LastCopy.IsZero() && in.Now.Sub(in.LastCopy) < CopyBackoff:
		plan.Wait = fmt.Sprintf("the last copy was less than %v ago", CopyBackoff)
	default:
		plan.Copy = need
	}
	return plan
}

// logicalPermanent names the permanent logical slots, sorted.
func logicalPermanent(p slotPolicy) []string {
	var out []string
	for name, s := range p.permanent {
		if s.Type == "logical" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// sameTimelineAsLeader reports whether the local replica is on the
// timeline the leader publishes (unknown counts as not).
func sameTimelineAsLeader(cl *dcs.Cluster, st pg.Status) bool {
	lm := cl.LeaderMember()
	return lm != nil && lm.Timeline != nil && st.Timeline != 0 && *lm.Timeline == int64(st.Timeline)
}

// slotOnPrimary is the physical slot on the primary through which member
// me's WAL, and its hot standby feedback, flows: its own, or that of the
// first member of its replicatefrom chain that streams from the leader.
func slotOnPrimary(cl *dcs.Cluster, me string) string {
	leader := ""
	if cl.Leader != nil {
		leader = cl.Leader.Name
	}
	seen := map[string]bool{}
	for cur := me; ; {
		seen[cur] = true
		m := cl.Member(cur)
		if m == nil {
			return pg.SlotName(cur)
		}
		from := m.Tags.String(dcs.TagReplicateFrom)
		up := cl.Member(from)
		switch {
		case from == "" || from == leader || up == nil || up.State != dcs.StateRunning:
			return pg.SlotName(cur)
		case seen[from]:
			// A replicatefrom cycle: nobody in it streams from the leader.
			return pg.SlotName(me)
		}
		cur = from
	}
}

// xidBefore is PostgreSQL's TransactionIdPrecedes for normal xids.
func xidBefore(a, b uint32) bool { return int32(a-b) < 0 }

// slotsReady applies Patroni's readiness rule to pending copies: a copy
// is safe once the replica's physical slot on the primary has a
// catalog_xmin (phys), the primary's own slot had not passed it when it
// first appeared (pending value), and it is not newer than the copy's.
// It returns the slots that became ready. Pure.
func slotsReady(pending map[string]uint32, phys uint32, local map[string]pg.Slot) []string {
	var ready []string
	if phys == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		p := pending[name]
		s, ok := local[name]
		if !ok || p == 0 || s.CatalogXmin == 0 {
			continue
		}
		if !xidBefore(phys, p) && !xidBefore(s.CatalogXmin, phys) {
			ready = append(ready, name)
		}
	}
	return ready
}

// syncLogicalSlots runs the replica's policy for permanent logical slots:
// advance the copies, check whether pending copies are safe, copy the
// missing ones. c.opMu held.
func (c *Controller) syncLogicalSlots(ctx context.Context, cl *dcs.Cluster, have []pg.Slot, p slotPolicy) {
	if len(logicalPermanent(p)) == 0 || c.lead.held() != nil {
		return
	}
	cp, ok := c.inst.(pg.LogicalSlotCopier)
	if !ok {
		c.warnSlot("", fmt.Sprintf("the instance (%T) cannot copy logical slots: permanent logical slots will not survive a failover to this member", c.inst))
		return
	}
	ls := &c.slots.logical
	if ls.pending == nil {
		ls.pending, ls.recopy = map[string]uint32{}, map[string]bool{}
	}
	local := map[string]pg.Slot{}
	for _, s := range have {
		local[s.Name] = s
	}
	if !ls.started {
		// Copies made before this Controller started, or slots kept from
		// when this node led: not known safe.
		ls.started = true
		for _, name := range logicalPermanent(p) {
			if s, ok := local[name]; ok && s.Type == "logical" {
				ls.pending[name] = 0
			}
		}
	}
	for name := range ls.pending {
		if _, ok := local[name]; !ok {
			delete(ls.pending, name)
		}
	}
	c.mu.Lock()
	st, seen := c.b.pgStatus, c.b.seenStatus
	c.mu.Unlock()
	in := replicaSlotInput{
		Cluster: cl, Me: c.o.Name, Tags: c.o.Tags, Policy: p, Have: have, Status: st,
		StatusCurrent: cl.Leader != nil && seen != nil && seen.ModRevision > cl.Leader.Revision,
		Recopy:        ls.recopy, Now: c.clk.Now(), LastCopy: ls.lastCopy,
	}
	plan := planReplicaSlots(in)
	for _, a := range plan.Advance {
		actx, cancel := context.WithTimeout(ctx, slotAdvanceTimeout)
		err := cp.AdvanceLogicalSlot(actx, a.Name, a.Database, a.LSN)
		cancel()
		switch {
		case errors.Is(err, pg.ErrSlotUnusable):
			ls.recopy[a.Name] = true
			c.warnSlot(a.Name, fmt.Sprintf("logical slot %s cannot be advanced on this replica (%v): copying it again once the primary's slot has moved on", a.Name, err))
		case err != nil:
			c.warnSlot(a.Name, fmt.Sprintf("advancing logical slot %s to %v failed: %v", a.Name, a.LSN, err))
		}
	}
	c.checkSlotsReady(ctx, cp, cl, local)
	if plan.Wait != "" {
		c.noteSlot("(copy)", "failover: logical slots not copied yet: "+plan.Wait)
		return
	}
	// The same reason to wait is logged again when it comes back.
	delete(c.slots.warned, "(copy)")
	if len(plan.Copy) > 0 {
		c.copyLogicalSlots(ctx, cp, cl, plan.Copy, local, p)
	}
}

// checkSlotsReady asks the primary whether pending copies are safe yet.
func (c *Controller) checkSlotsReady(ctx context.Context, cp pg.LogicalSlotCopier, cl *dcs.Cluster, local map[string]pg.Slot) {
	ls := &c.slots.logical
	now := c.clk.Now()
	eager := ls.lastCopy.IsZero() || now.Sub(ls.lastCopy) < readyCheckEager
	if len(ls.pending) == 0 || cl.Leader == nil || cl.Leader.Name == c.o.Name ||
		(!eager && now.Sub(ls.lastReadyCheck) < readyCheckInterval) {
		return
	}
	ls.lastReadyCheck = now
	up, err := upstreamOf(cl, cl.Leader.Name)
	if err != nil {
		return
	}
	phys := slotOnPrimary(cl, c.o.Name)
	names := append(slices.Sorted(maps.Keys(ls.pending)), phys)
	rctx, cancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout+time.Second)
	defer cancel()
	slots, err := cp.UpstreamSlots(rctx, up, names)
	if err != nil {
		c.warnSlot("(ready)", "checking logical slot copies on the primary failed: "+err.Error())
		return
	}
	var physXmin uint32
	found := false
	for _, s := range slots {
		if s.Name == phys && s.Type == "physical" {
			physXmin, found = s.CatalogXmin, true
		}
	}
	switch {
	case !found:
		c.warnSlot("(ready)", fmt.Sprintf("physical slot %s does not exist on the primary: logical slot copies cannot be confirmed safe", phys))
		return
	case physXmin == 0:
		c.noteSlot("(ready)", fmt.Sprintf("failover: physical slot %s on the primary carries no catalog_xmin yet (hot_standby_feedback must be on): logical slot copies not confirmed safe yet", phys))
		return
	}
	for _, s := range slots {
		if v, ok := ls.pending[s.Name]; ok && v == 0 && s.Type == "logical" {
			ls.pending[s.Name] = s.CatalogXmin
		}
	}
	for _, name := range slotsReady(ls.pending, physXmin, local) {
		delete(ls.pending, name)
		c.log.Info("failover: logical slot copy is safe to use after a failover", "slot", name, "catalog_xmin", local[name].CatalogXmin)
	}
}

// copyLogicalSlots reads the slots on the primary and installs those that
// can be, restarting the server.
func (c *Controller) copyLogicalSlots(ctx context.Context, cp pg.LogicalSlotCopier, cl *dcs.Cluster, names []string, local map[string]pg.Slot, p slotPolicy) {
	ls := &c.slots.logical
	ls.lastCopy = c.clk.Now()
	up, err := upstreamOf(cl, cl.Leader.Name)
	if err != nil {
		c.warnSlot("(copy)", "copying logical slots: "+err.Error())
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout+time.Second)
	remote, err := cp.UpstreamSlots(rctx, up, names)
	cancel()
	if err != nil {
		c.warnSlot("(copy)", "reading logical slots on the primary failed: "+err.Error())
		return
	}
	var copies []pg.SlotCopy
	for _, s := range remote {
		want := p.permanent[s.Name]
		mine, have := local[s.Name]
		switch {
		case s.Type != "logical" || s.Database != want.Database || s.Plugin != want.Plugin:
			c.warnSlot(s.Name, fmt.Sprintf("slot %s on the primary is %s %s/%s, not as configured (%s/%s): not copied",
				s.Name, s.Type, s.Database, s.Plugin, want.Database, want.Plugin))
		case have && s.RestartLSN <= mine.RestartLSN:
			c.warnSlot(s.Name, fmt.Sprintf("logical slot %s: the primary's copy (restart_lsn %v) is no newer than this one; copying again when it moves",
				s.Name, s.RestartLSN))
		default:
			copies = append(copies, s)
		}
	}
	if len(copies) == 0 {
		return
	}
	got := make([]string, len(copies))
	for i, s := range copies {
		got[i] = s.Name
	}
	c.log.Info("failover: restarting to install logical slots copied from the primary", "slots", got, "leader", cl.Leader.Name)
	resume := c.leaveSync(ctx)
	c.beforeStop(ctx)
	ictx, icancel := context.WithTimeout(ctx, 2*c.o.StartTimeout)
	err = cp.InstallLogicalSlots(ictx, copies)
	icancel()
	resume()
	if err != nil {
		// Nothing installed, or the server did not come back: the loop
		// starts it as it would after any stop.
		c.warnSlot("(copy)", "installing logical slots copied from the primary failed: "+err.Error())
		return
	}
	c.emit(EventRestarted, "to load logical slots copied from the primary")
	for _, name := range got {
		ls.pending[name] = 0
		delete(ls.recopy, name)
		delete(c.slots.warned, name)
	}
}

// onLeaderSlots runs on the leader: it warns once about copies that were
// not confirmed safe when this node was promoted, resets the replica
// state, and records the positions of the permanent slots for the status
// key. c.opMu held.
func (c *Controller) onLeaderSlots(have []pg.Slot, p slotPolicy) {
	ls := &c.slots.logical
	if len(ls.pending) > 0 {
		names := slices.Sorted(maps.Keys(ls.pending))
		c.log.Warn("failover: logical slots that might be unsafe to use after this promotion (their copies were not confirmed to hold their catalog rows on the old primary)", "slots", names)
	}
	// Should this node become a replica again, the logical slots it keeps
	// are checked like copies: the new primary holds their catalog rows
	// only once this node's feedback reaches it.
	*ls = logicalSync{}
	pos := map[string]int64{}
	for _, s := range have {
		w, ok := p.permanent[s.Name]
		if !ok || w.Type != s.Type {
			continue
		}
		lsn := s.RestartLSN
		if s.Type == "logical" {
			lsn = s.ConfirmedFlushLSN
		}
		if lsn > 0 {
			pos[s.Name] = lsn.Int64()
		}
	}
	if len(pos) == 0 {
		pos = nil
	}
	c.slots.positions = pos
}

// slotPositions is the status key's `slots`: the positions of the
// permanent slots as this leader last listed them (nil when none).
// c.opMu held.
func (c *Controller) slotPositions() map[string]int64 {
	return c.slots.positions
}

// noteSlot logs msg at info level unless it was the last message under
// key.
func (c *Controller) noteSlot(key, msg string) {
	st := &c.slots
	if st.warned == nil {
		st.warned = map[string]string{}
	}
	if st.warned[key] == msg {
		return
	}
	st.warned[key] = msg
	c.log.Info(msg)
}
