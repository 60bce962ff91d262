package localcluster

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The judgements of a fault scenario, as pure functions of what the
// [Recorder], a [StateWatch] and a [LeaderWatch] recorded, so that each
// rule has table tests with hand-made inputs.

// LostWrites returns the ids of the acknowledged writes that have does not
// hold, in the order of acks: acknowledged writes missing on the final
// primary.
func LostWrites(acks []Ack, have map[int64]bool) []int64 {
	var lost []int64
	for _, a := range acks {
		if !have[a.ID] {
			lost = append(lost, a.ID)
		}
	}
	return lost
}

// MergeAcks returns the acknowledged writes of several writers in one new
// slice ordered by acknowledgement time (ties by send time, then id), the
// order [LongestGap] and [FindTwoWriters] read.
func MergeAcks(lists ...[]Ack) []Ack {
	var out []Ack
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.SortStableFunc(out, func(a, b Ack) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if c := a.Sent.Compare(b.Sent); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// TwoWriterKind says how acknowledgements show two writable nodes.
type TwoWriterKind string

const (
	// Overlapping: two nodes' acknowledgement windows [Sent, At]
	// overlap, so each node may have committed while the other one also
	// accepted writes.
	Overlapping TwoWriterKind = "overlap"
	// Interleaved: node A acknowledged a write, then node B, then A
	// again.
	Interleaved TwoWriterKind = "interleave"
)

// TwoWriters is one acknowledged write (Later) that shows another node
// writable at the same time: Earlier is the other node's acknowledgement
// it overlaps with (Overlapping), or the other node's last one before it
// when Later's node had acknowledged writes before that (Interleaved).
type TwoWriters struct {
	Kind           TwoWriterKind
	Earlier, Later Ack
}

// String describes the moment for a test log.
func (tw TwoWriters) String() string {
	return fmt.Sprintf("%s: id %d on %s [%s, %s] and id %d on %s [%s, %s]", tw.Kind,
		tw.Earlier.ID, tw.Earlier.Node, clock(tw.Earlier.Sent), clock(tw.Earlier.At),
		tw.Later.ID, tw.Later.Node, clock(tw.Later.Sent), clock(tw.Later.At))
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }

// FindTwoWriters returns the acknowledged writes (of any writers, in any
// order) that show two nodes accepting writes at once: one entry per such
// write, Overlapping when its window overlaps another node's latest
// acknowledgement, else Interleaved when its node acknowledged writes
// before another node's latest ones. Acknowledgements whose node is
// unknown are ignored. An empty result is what one primary at a time
// looks like, whether or not the leadership moves once; a planned move
// back to an earlier primary would be reported as Interleaved, so use it
// over windows in which the leadership moves at most once.
//
// Overlapping windows do not prove that both commits happened at the
// same instant (an acknowledgement may travel slowly), only that they may
// have; after a correct failover the old primary stops acknowledging
// before the new one starts, seconds apart.
func FindTwoWriters(acks []Ack) []TwoWriters {
	var out []TwoWriters
	last := map[string]Ack{} // latest acknowledgement of each node so far
	prev := ""               // node of the previous acknowledgement
	for _, a := range MergeAcks(acks) {
		if a.Node == "" {
			continue
		}
		var hit *TwoWriters
		for node, l := range last {
			if node == a.Node || !l.At.After(a.Sent) {
				continue
			}
			// Keep the overlap with the latest acknowledgement, so the
			// result does not depend on map order.
			if hit == nil || l.At.After(hit.Earlier.At) {
				hit = &TwoWriters{Kind: Overlapping, Earlier: l, Later: a}
			}
		}
		if _, seen := last[a.Node]; hit == nil && seen && prev != "" && prev != a.Node {
			hit = &TwoWriters{Kind: Interleaved, Earlier: last[prev], Later: a}
		}
		if hit != nil {
			out = append(out, *hit)
		}
		last[a.Node] = a
		prev = a.Node
	}
	return out
}

// NodeState is what a probe saw of one node's PostgreSQL at one moment.
type NodeState struct {
	At   time.Time
	Node string
	// Up is false when PostgreSQL did not answer; the fields below are
	// then unknown.
	Up bool
	// Primary is true out of recovery.
	Primary bool
	// Timeline is a primary's current timeline (of its WAL insert
	// position) or the timeline a replica last received; 0 when unknown.
	Timeline int64
	// Started is pg_postmaster_start_time(): it changes when the
	// postmaster restarts.
	Started time.Time
	// WAL is the end of the WAL the node had (a primary's flush position,
	// a replica's last received one), as a byte position. A change of it
	// alone is not a change of state.
	WAL int64
}

// WALMark is a node's WAL end at a probe.
type WALMark struct {
	At  time.Time
	WAL int64
}

// WALBefore is the furthest WAL end marks show before at, 0 if none.
func WALBefore(marks []WALMark, at time.Time) int64 {
	var w int64
	for _, m := range marks {
		if m.At.Before(at) {
			w = max(w, m.WAL)
		}
	}
	return w
}

// same reports whether s and o describe the same state (At aside).
func (s NodeState) same(o NodeState) bool {
	return s.Node == o.Node && s.Up == o.Up && s.Primary == o.Primary && s.Timeline == o.Timeline && s.Started.Equal(o.Started)
}

// DisruptionKind names a change of a node that a fault which needs no
// failover must not cause.
type DisruptionKind string

const (
	// Demoted: a primary went into recovery or restarted, or stopped
	// answering for good.
	Demoted DisruptionKind = "demoted"
	// Promoted: a node seen as a replica became a primary.
	Promoted DisruptionKind = "promoted"
	// Restarted: a node's postmaster restarted.
	Restarted DisruptionKind = "restarted"
	// NewTimeline: a node's timeline increased.
	NewTimeline DisruptionKind = "timeline"
)

// Disruption is one such change, seen at At.
type Disruption struct {
	At     time.Time
	Node   string
	Kind   DisruptionKind
	Detail string
}

// String describes the disruption for a test log.
func (d Disruption) String() string {
	return fmt.Sprintf("%s %s %s (%s)", clock(d.At), d.Node, d.Kind, d.Detail)
}

// Disruptions returns the demotions, promotions, restarts and timeline
// changes in states (probes of any nodes, ordered by time per node).
// States in which a node did not answer only count at the end: a primary
// that stops answering and comes back as the same primary (the same
// postmaster, still out of recovery) was not demoted, but one that never
// answers again was.
func Disruptions(states []NodeState) []Disruption {
	var out []Disruption
	lastUp := map[string]NodeState{} // latest state in which the node answered
	down := map[string]bool{}        // the node's latest state is not Up
	maxTL := map[string]int64{}
	for _, s := range states {
		if !s.Up {
			down[s.Node] = true
			continue
		}
		down[s.Node] = false
		if p, ok := lastUp[s.Node]; ok {
			restarted := !p.Started.Equal(s.Started)
			switch {
			case p.Primary && !s.Primary:
				out = append(out, Disruption{s.At, s.Node, Demoted, "primary is in recovery"})
			case p.Primary && restarted:
				out = append(out, Disruption{s.At, s.Node, Demoted, "primary restarted"})
			case !p.Primary && s.Primary:
				out = append(out, Disruption{s.At, s.Node, Promoted, "replica is out of recovery"})
			}
			if restarted {
				out = append(out, Disruption{s.At, s.Node, Restarted,
					"postmaster started " + clock(p.Started) + ", now " + clock(s.Started)})
			}
		}
		if tl := maxTL[s.Node]; tl > 0 && s.Timeline > tl {
			out = append(out, Disruption{s.At, s.Node, NewTimeline, fmt.Sprintf("timeline %d -> %d", tl, s.Timeline)})
		}
		maxTL[s.Node] = max(maxTL[s.Node], s.Timeline)
		lastUp[s.Node] = s
	}
	nodes := make([]string, 0, len(down))
	for n := range down {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		if p, ok := lastUp[n]; ok && down[n] && p.Primary {
			out = append(out, Disruption{p.At, n, Demoted, "primary stopped answering and did not come back"})
		}
	}
	return out
}

// Recording is what was recorded around a fault: the writes acknowledged
// through HAProxy and directly (each list in acknowledgement order), the
// nodes' states and WAL ends, and the leader key's changes.
type Recording struct {
	Proxy, Direct []Ack
	States        []NodeState
	// WAL is, per node, each probe at which its WAL end was further than
	// before: what a node had before it restarted, to tell a restart
	// that a rewind needed from one that was not needed.
	WAL          map[string][]WALMark
	LeaderEvents []LeaderEvent
}

// Analysis is the judgement of a Recording.
type Analysis struct {
	// TwoWriters lists writes acknowledged while another node also
	// acknowledged writes (FindTwoWriters over every writer).
	TwoWriters []TwoWriters
	// ProxyGap and DirectGap are the longest gaps between acknowledged
	// writes in the window, through HAProxy and directly on whichever
	// node acknowledged them; zero when there were fewer than two.
	ProxyGap, DirectGap Gap
	// Disruptions are the nodes' demotions, promotions, restarts and
	// timeline changes.
	Disruptions []Disruption
	// LeaderChanges are the leader key's changes away from the leader
	// (deletions included): a failover, false when none was needed.
	LeaderChanges []LeaderEvent
}

// Analyze judges r for a fault whose consequences lie within [from,
// until] while leader held the leader key.
func Analyze(r Recording, leader string, from, until time.Time) Analysis {
	a := Analysis{TwoWriters: FindTwoWriters(MergeAcks(r.Proxy, r.Direct)), Disruptions: Disruptions(r.States)}
	a.ProxyGap, _ = LongestGap(r.Proxy, from, until)
	a.DirectGap, _ = LongestGap(MergeAcks(r.Direct), from, until)
	for _, ev := range r.LeaderEvents {
		if ev.Name != leader {
			a.LeaderChanges = append(a.LeaderChanges, ev)
		}
	}
	return a
}

// Count returns how many disruptions are of kind k.
func (a Analysis) Count(k DisruptionKind) int {
	n := 0
	for _, d := range a.Disruptions {
		if d.Kind == k {
			n++
		}
	}
	return n
}
