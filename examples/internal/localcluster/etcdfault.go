package localcluster

import (
	"context"
	"errors"
	"fmt"
)

// EtcdFault names which etcd member a "no failover needed" scenario
// kills. Both need three running members and leave the victim as raft
// leader, so that its loss costs an election; they differ in whether the
// primary's agent keeps its watch on the victim.
type EtcdFault int

const (
	// EtcdLeaderFault is the loss of etcd's raft leader while the
	// primary's agent watches through another member: when the leader
	// is the member the agent watches through, leadership is moved to
	// another member first.
	EtcdLeaderFault EtcdFault = iota + 1
	// EtcdPrimaryMemberFault is the loss of the member the primary's
	// agent talks to (keeps its watch on, see [Cluster.AgentEtcdMember]),
	// made raft leader first with etcd's MoveLeader.
	EtcdPrimaryMemberFault
)

// String names the fault.
func (f EtcdFault) String() string {
	switch f {
	case EtcdLeaderFault:
		return "etcd raft leader"
	case EtcdPrimaryMemberFault:
		return "etcd member of the primary's agent, made raft leader"
	}
	return fmt.Sprintf("EtcdFault(%d)", int(f))
}

// EtcdFaultPlan is the member a fault kills and how it was chosen.
type EtcdFaultPlan struct {
	// Victim is the member to kill; it is raft leader when the plan is
	// returned.
	Victim int
	// AgentMember is the member the primary's agent watches through and
	// AgentStreams its long-lived streams per member.
	AgentMember  int
	AgentStreams []int64
	// MovedFrom is the raft leader before etcd's MoveLeader made Victim
	// leader, -1 when Victim already led.
	MovedFrom int
}

// planAttempts bounds the re-planning when the agent's watch moves while
// leadership moves.
const planAttempts = 3

// PlanEtcdFault picks the member that fault f kills for the primary
// node primary and makes it etcd's raft leader (with MoveLeader when it is
// not), checking afterwards that the agent still watches through the
// same member (a watch may move when leadership does; then it plans
// again, up to three times).
func (c *Cluster) PlanEtcdFault(ctx context.Context, primary string, f EtcdFault) (EtcdFaultPlan, error) {
	e := c.etcd
	if e.Size() < 3 {
		return EtcdFaultPlan{}, fmt.Errorf("%w: an etcd fault without quorum loss needs 3 members, have %d", ErrInvalidOptions, e.Size())
	}
	var errs []error
	for range planAttempts {
		p := EtcdFaultPlan{MovedFrom: -1}
		var err error
		if p.AgentMember, p.AgentStreams, err = c.AgentEtcdMember(ctx, primary); err != nil {
			return p, err
		}
		leader, err := e.WaitLeader(ctx)
		if err != nil {
			return p, err
		}
		switch f {
		case EtcdPrimaryMemberFault:
			p.Victim = p.AgentMember
		case EtcdLeaderFault:
			p.Victim = leader
			if leader == p.AgentMember {
				p.Victim = -1
				for i := range e.Size() {
					if i != p.AgentMember && e.Running(i) {
						p.Victim = i
						break
					}
				}
				if p.Victim < 0 {
					return p, fmt.Errorf("localcluster: no running etcd member besides %d", p.AgentMember)
				}
			}
		default:
			return p, fmt.Errorf("%w: unknown etcd fault %d", ErrInvalidOptions, int(f))
		}
		if p.Victim != leader {
			p.MovedFrom = leader
			if err := e.MoveLeader(ctx, p.Victim); err != nil {
				return p, err
			}
		}
		now, streams, err := c.AgentEtcdMember(ctx, primary)
		if err != nil {
			return p, err
		}
		if now == p.AgentMember {
			return p, nil
		}
		errs = append(errs, fmt.Errorf("the agent of %s moved its watch from etcd member %d to %d (streams %v)",
			primary, p.AgentMember, now, streams))
	}
	return EtcdFaultPlan{}, fmt.Errorf("localcluster: plan %s: %w", f, errors.Join(errs...))
}
