package failover

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
)

// CandidateInput is everything [SelectCandidate] looks at.
type CandidateInput struct {
	// Cluster is the DCS snapshot: members (and their tags and published
	// positions), leader, sync, history and status keys. May be nil.
	Cluster *dcs.Cluster
	// SnapshotAt is when Cluster was read; it is the observation time of
	// the positions taken from member keys. Zero means Now.
	SnapshotAt time.Time
	// Positions are fresher observations (peer queries, the local server).
	// For each name the newest observation wins over the member key.
	Positions []Position
	// Now is the time of the decision.
	Now time.Time
	// Settings supplies maximum_lag_on_failover, synchronous_mode,
	// check_timeline, MaxPositionAge and StrictOptimeLag.
	Settings Settings
	// Candidate names the member an operator asked for (failover key), or
	// "". A named candidate that is eligible is chosen even if another is
	// better.
	Candidate string
	// OverrideLag lets the named Candidate through the lag rule, and only
	// that rule: the manual failover override. The verdict says so.
	OverrideLag bool
	// OverrideSync lets the named Candidate through the synchronous-mode
	// rules (not listed in the sync key, quorum proof), and only those:
	// the manual failover with allow_data_loss. Acknowledged commits may
	// be lost; the verdict says so.
	OverrideSync bool
	// Exclude lists members that must not be chosen (the leader being
	// switched away from).
	Exclude []string
	// KnownLSN is a position the caller knows a surviving node has (for
	// example the old primary's shutdown checkpoint in a switchover). It
	// raises the reference; 0 means none.
	KnownLSN int64
}

// Verdict is the outcome for one member.
type Verdict struct {
	Name string
	// Reason is Eligible (empty) or why the member was excluded.
	Reason Exclusion
	// Message explains the reason, or the ranking of an eligible member.
	Message string
	// Overridden is set when the lag rule was waived for the named
	// candidate of a manual failover.
	Overridden bool
	// SyncOverridden is set when the synchronous-mode rules were waived
	// for the named candidate (allow_data_loss): acknowledged commits may
	// be lost.
	SyncOverridden bool
	// TiedBest is set on eligible members that equal the best one in
	// priority, received and replay LSN (only the name breaks the tie).
	TiedBest bool
	Priority int64
	Received int64
	Replay   int64
	Timeline int64
	// Lag is the reference position minus Received (0 if ahead); -1 when
	// the member has no usable position.
	Lag    int64
	Source Source
}

// IsEligible reports whether the member may be chosen.
func (v Verdict) IsEligible() bool { return v.Reason == Eligible }

// CandidateResult is the outcome of [SelectCandidate].
type CandidateResult struct {
	// Chosen is the member to promote, or "" when none is eligible.
	Chosen string
	// Overridden is set when Chosen passed only thanks to OverrideLag.
	Overridden bool
	// SyncOverridden is set when Chosen passed only thanks to
	// OverrideSync: acknowledged commits may be lost.
	SyncOverridden bool
	// NamedRejected is set when a Candidate was named but is not eligible;
	// Chosen is then "".
	NamedRejected bool
	// Reference is the position lag was measured against, and
	// ReferenceFrom what set it.
	Reference     int64
	ReferenceFrom string
	// Unrecoverable is how far the leader's last published optime is ahead
	// of every surviving copy of the WAL when the leader is gone: bytes no
	// candidate can provide, lost whoever is promoted (0 when none or
	// unknown). It is reported, never used to exclude (unless
	// StrictOptimeLag).
	Unrecoverable int64
	// Verdicts has one entry per member or observed name: eligible members
	// best first, then excluded members by name.
	Verdicts []Verdict
}

// Verdict returns the verdict for name.
func (r CandidateResult) Verdict(name string) (Verdict, bool) {
	for _, v := range r.Verdicts {
		if v.Name == name {
			return v, true
		}
	}
	return Verdict{}, false
}

// Eligible returns the eligible verdicts, best first.
func (r CandidateResult) Eligible() []Verdict {
	var out []Verdict
	for _, v := range r.Verdicts {
		if v.IsEligible() {
			out = append(out, v)
		}
	}
	return out
}

// Excluded returns the excluded verdicts by name.
func (r CandidateResult) Excluded() []Verdict {
	var out []Verdict
	for _, v := range r.Verdicts {
		if !v.IsEligible() {
			out = append(out, v)
		}
	}
	return out
}

// candidate is a member under evaluation.
type candidate struct {
	name   string
	member *dcs.Member // nil: observed but no member key
	pos    Position
	hasPos bool
}

// SelectCandidate decides which member should become primary: it checks
// every member's eligibility, then orders the eligible ones by
// failover_priority (higher first), received LSN, replay LSN (higher first)
// and name (ascending), so the order is total and does not depend on the
// order of the input. It is pure. See the package doc for what lag is
// measured against.
func SelectCandidate(in CandidateInput) CandidateResult {
	s := in.Settings
	snapAt := in.SnapshotAt
	if snapAt.IsZero() {
		snapAt = in.Now
	}
	byName := map[string]*candidate{}
	get := func(name string) *candidate {
		c := byName[name]
		if c == nil {
			c = &candidate{name: name}
			byName[name] = c
		}
		return c
	}
	if in.Cluster != nil {
		for _, m := range in.Cluster.Members {
			if m == nil {
				continue
			}
			c := get(m.Name)
			c.member = m
			p := PositionFromMember(m, snapAt)
			if !c.hasPos || newer(p, c.pos) {
				c.pos, c.hasPos = p, true
			}
		}
	}
	for _, p := range in.Positions {
		c := get(p.Name)
		if !c.hasPos || newer(p, c.pos) {
			c.pos, c.hasPos = p, true
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)

	clusterTL := int64(0)
	if in.Cluster != nil {
		clusterTL = in.Cluster.Timeline()
	}
	live := func(c *candidate) bool {
		return c.hasPos && c.pos.Running() && in.Now.Sub(c.pos.ObservedAt) <= s.MaxPositionAge
	}
	timelineBehind := func(p Position) bool {
		return p.Timeline > 0 && clusterTL > 0 && p.Timeline < clusterTL
	}

	// The reference: the most WAL that a live node has now.
	res := CandidateResult{}
	for _, n := range names {
		c := byName[n]
		if live(c) && !timelineBehind(c.pos) && c.pos.Received() > res.Reference {
			res.Reference, res.ReferenceFrom = c.pos.Received(), fmt.Sprintf("%s (%s)", n, c.pos.Source)
		}
	}
	if in.KnownLSN > res.Reference {
		res.Reference, res.ReferenceFrom = in.KnownLSN, "known position"
	}
	if in.Cluster != nil && in.Cluster.Status != nil {
		opt := in.Cluster.Status.Optime
		leaderAlive := in.Cluster.Leader != nil
		switch {
		case (leaderAlive || s.StrictOptimeLag) && opt > res.Reference:
			res.Reference, res.ReferenceFrom = opt, "leader's published optime"
		case !leaderAlive && opt > res.Reference:
			res.Unrecoverable = opt - res.Reference
		}
	}
	if res.ReferenceFrom == "" {
		res.ReferenceFrom = "nothing observed"
	}

	excluded := map[string]bool{}
	for _, n := range in.Exclude {
		excluded[n] = true
	}
	syncOn := s.syncActive(in.Cluster)
	quorumWitness := quorumWitnesses(in, s, byName, live, timelineBehind)
	var verdicts []Verdict
	for _, n := range names {
		c := byName[n]
		v := Verdict{Name: n, Lag: -1, Priority: 1}
		if c.member != nil {
			v.Priority = c.member.Tags.FailoverPriority()
		}
		if c.hasPos {
			v.Received, v.Replay, v.Timeline, v.Source = c.pos.Received(), c.pos.ReplayLSN, c.pos.Timeline, c.pos.Source
			if live(c) {
				v.Lag = max(0, res.Reference-v.Received)
			}
		}
		exclude := func(r Exclusion, format string, args ...any) {
			v.Reason, v.Message = r, fmt.Sprintf(format, args...)
		}
		switch {
		case c.member == nil:
			exclude(ExclNotMember, "observed by %s but has no member key", c.pos.Source)
		case excluded[n]:
			exclude(ExclExcluded, "excluded by the caller (leader being switched away from)")
		case c.pos.Unreachable:
			exclude(ExclUnreachable, "peer query failed at %s", c.pos.ObservedAt.Format(time.RFC3339Nano))
		case c.pos.Declines:
			exclude(ExclDeclines, "would not promote now: its required watchdog failed or its pre-promote hook refused (per %s)", c.pos.Source)
		case !c.pos.Running():
			exclude(ExclNotRunning, "PostgreSQL is not running (state %q per %s)", c.pos.State, c.pos.Source)
		case !live(c):
			exclude(ExclStale, "newest position is %v old (%s), more than %v", in.Now.Sub(c.pos.ObservedAt), c.pos.Source, s.MaxPositionAge)
		case c.member.Tags.NoFailover():
			exclude(ExclNoFailover, "tagged nofailover (failover_priority %d)", v.Priority)
		case timelineBehind(c.pos):
			exclude(ExclTimelineBehind, "timeline %d is behind the cluster timeline %d", c.pos.Timeline, clusterTL)
		case s.CheckTimeline && c.pos.Timeline <= 0:
			exclude(ExclTimelineUnknown, "timeline unknown and check_timeline is on")
		case syncOn && c.member.Tags.Bool(dcs.TagNoSync):
			exclude(ExclNoSync, "tagged nosync while synchronous mode is on")
		case syncOn && !in.Cluster.Sync.IsSync(n) && !(in.OverrideSync && n == in.Candidate):
			exclude(ExclNotSync, "not listed in the sync key (leader %q, standbys %v) while synchronous mode is on: it may lack acknowledged commits", in.Cluster.Sync.Leader, in.Cluster.Sync.SyncStandby)
		case syncOn && s.SynchronousMode == SyncQuorum && !(in.OverrideSync && n == in.Candidate) && quorumWitness(c) != "":
			exclude(ExclSyncQuorum, "%s", quorumWitness(c))
		case v.Lag > s.MaximumLagOnFailover:
			if in.OverrideLag && n == in.Candidate {
				v.Overridden = true
				v.Message = fmt.Sprintf("lag %d bytes behind %s exceeds maximum_lag_on_failover %d: overridden by manual failover to %s", v.Lag, res.ReferenceFrom, s.MaximumLagOnFailover, n)
			} else {
				exclude(ExclLag, "lag %d bytes behind %s (position %d) exceeds maximum_lag_on_failover %d", v.Lag, res.ReferenceFrom, res.Reference, s.MaximumLagOnFailover)
			}
		}
		if v.IsEligible() && syncOn && in.OverrideSync && n == in.Candidate && (!in.Cluster.Sync.IsSync(n) || s.SynchronousMode == SyncQuorum && quorumWitness(c) != "") {
			v.SyncOverridden = true
			v.Message = fmt.Sprintf("not provably holding every acknowledged commit (sync key: leader %q, standbys %v): overridden by a manual failover with %s, acknowledged commits may be lost",
				in.Cluster.Sync.Leader, in.Cluster.Sync.SyncStandby, AllowDataLossKey)
		}
		if v.IsEligible() && v.Message == "" {
			v.Message = fmt.Sprintf("eligible: priority %d, received %d, replay %d, lag %d", v.Priority, v.Received, v.Replay, v.Lag)
		}
		verdicts = append(verdicts, v)
	}

	slices.SortStableFunc(verdicts, func(a, b Verdict) int {
		if a.IsEligible() != b.IsEligible() {
			if a.IsEligible() {
				return -1
			}
			return 1
		}
		if !a.IsEligible() {
			return cmp.Compare(a.Name, b.Name)
		}
		return compareRank(a, b)
	})
	if len(verdicts) > 0 && verdicts[0].IsEligible() {
		best := verdicts[0]
		for i := range verdicts {
			if verdicts[i].IsEligible() && sameRank(verdicts[i], best) {
				verdicts[i].TiedBest = true
			}
		}
	}
	res.Verdicts = verdicts

	if in.Candidate != "" {
		if v, ok := res.Verdict(in.Candidate); ok && v.IsEligible() {
			res.Chosen, res.Overridden, res.SyncOverridden = v.Name, v.Overridden, v.SyncOverridden
		} else {
			res.NamedRejected = true
		}
		return res
	}
	if len(verdicts) > 0 && verdicts[0].IsEligible() {
		res.Chosen = verdicts[0].Name
	}
	return res
}

// compareRank orders eligible verdicts: priority, received and replay LSN
// descending, then name ascending.
func compareRank(a, b Verdict) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Received, a.Received); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Replay, a.Replay); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// sameRank reports whether only the name separates a and b.
func sameRank(a, b Verdict) bool {
	return a.Priority == b.Priority && a.Received == b.Received && a.Replay == b.Replay
}

// quorumWitnesses returns the quorum-mode check (R + W > N): with the sync
// key (leader L, standbys V, quorum q) every acknowledged commit is on at
// least |V| − q members of V (PlanSync keeps that), so a member of V may be
// promoted when it observes, live on the cluster timeline by a peer query
// or locally (never by a member key, which may predate the last commits),
// either L itself (which has everything) or at least q+1 members of V
// counting itself, and none of those observed has received more WAL than
// it: some observed member holds every acknowledged commit, and the
// candidate has at least as much. The returned function gives "" when c
// passes, else why not.
func quorumWitnesses(in CandidateInput, s Settings, byName map[string]*candidate, live func(*candidate) bool, behind func(Position) bool) func(*candidate) string {
	if !s.syncActive(in.Cluster) || s.SynchronousMode != SyncQuorum {
		return func(*candidate) string { return "" }
	}
	sync := in.Cluster.Sync
	var seen []*candidate
	leaderSeen := false
	for _, name := range append([]string{sync.Leader}, sync.SyncStandby...) {
		w := byName[name]
		// Only positions observed for this decision count: a member key
		// may predate the last acknowledged commits.
		if w == nil || !live(w) || behind(w.pos) || w.pos.Source == SourceMemberKey {
			continue
		}
		if name == sync.Leader {
			leaderSeen = true
		}
		if !slices.ContainsFunc(seen, func(x *candidate) bool { return x == w }) {
			seen = append(seen, w)
		}
	}
	voters := 0
	for _, w := range seen {
		if slices.Contains(sync.SyncStandby, w.name) {
			voters++
		}
	}
	return func(c *candidate) string {
		if c.name == sync.Leader {
			return ""
		}
		if !leaderSeen && voters < sync.Quorum+1 {
			return fmt.Sprintf("quorum mode: sees %d live listed standbys of %v (itself included), needs %d (quorum %d + 1) or the sync leader %s, to prove it holds every acknowledged commit",
				voters, sync.SyncStandby, sync.Quorum+1, sync.Quorum, sync.Leader)
		}
		for _, w := range seen {
			if w.pos.Received() > c.pos.Received() {
				return fmt.Sprintf("quorum mode: %s has received more WAL (%d) than this member (%d)", w.name, w.pos.Received(), c.pos.Received())
			}
		}
		return ""
	}
}
