package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi/client"
)

// parseScheduled accepts "now" (immediate) or an ISO 8601 time with a
// time zone.
func (a *App) parseScheduled(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(a.Now()) {
				return nil, fmt.Errorf("%w: --scheduled %s is in the past", ErrUsage, s)
			}
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w: --scheduled %q: want an ISO 8601 time with a time zone, e.g. 2024-01-14T10:09:57+00:00", ErrUsage, s)
}

// candidateList is the candidates patronictl offers, as it prints them:
// the members other than the leader and not tagged nofailover, sorted,
// "['a', 'b']".
func candidateList(c *dcs.Cluster) string {
	var names []string
	for _, m := range c.Members {
		if (c.Leader == nil || m.Name != c.Leader.Name) && !m.Tags.NoFailover() {
			names = append(names, "'"+listing.CleanCell(m.Name)+"'")
		}
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ", ") + "]"
}

// syncMode is the synchronous mode in force: off in a standby cluster
// whatever the config key says (Patroni's is_synchronous_mode), so that a
// switchover there is not held to a sync key nobody maintains.
func syncMode(c *dcs.Cluster) string {
	if sc, _ := failover.StandbyClusterOf(c.Config); sc.Active() {
		return "off"
	}
	return c.Config.SyncMode()
}

// checkCandidate applies patronictl's client-side checks.
func checkCandidate(c *dcs.Cluster, scope, candidate string) (*dcs.Member, error) {
	m := c.Member(candidate)
	if m == nil {
		return nil, fmt.Errorf("member %s does not exist in cluster %s", candidate, scope)
	}
	if c.Leader != nil && c.Leader.Name == candidate {
		return nil, fmt.Errorf("member %s is already the leader of cluster %s", candidate, scope)
	}
	if m.Tags.NoFailover() {
		return nil, fmt.Errorf("member %s is tagged nofailover and cannot be promoted", candidate)
	}
	return m, nil
}

// switchoverOptions are switchover's flags.
type switchoverOptions struct {
	leader, candidate, scheduled string
	force                        bool
}

// failoverOptions are failover's flags.
type failoverOptions struct {
	candidate        string
	force, allowLoss bool
}

// currentTopology prints the cluster before an action, as patronictl
// does.
func (a *App) currentTopology(c *dcs.Cluster) error {
	if a.JSON {
		return nil
	}
	fmt.Fprintln(a.Out, "Current cluster topology")
	return a.outputMembers(c, false, fmtPretty)
}

func (a *App) cmdSwitchover(ctx context.Context, o switchoverOptions) error {
	leader, candidate, scheduled, force := &o.leader, &o.candidate, &o.scheduled, &o.force
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	if err := a.currentTopology(c); err != nil {
		return err
	}
	if c.Leader == nil {
		return fmt.Errorf("cluster %s has no leader; use failover --candidate", a.Scope)
	}
	// Without --force, patronictl asks for what the flags did not say.
	if *leader == "" && !*force {
		role := "Primary"
		if lm := c.LeaderMember(); lm != nil && lm.Role == dcs.RoleStandbyLeader {
			role = "Standby Leader"
		}
		if *leader, err = a.promptDefault(role, c.Leader.Name); err != nil {
			return err
		}
	}
	if *candidate == "" && !*force {
		if *candidate, err = a.promptDefault("Candidate "+candidateList(c), ""); err != nil {
			return err
		}
	}
	if *scheduled == "" && !*force {
		example := a.Now().Add(time.Hour).Format("2006-01-02T15:04")
		if *scheduled, err = a.promptDefault("When should the switchover take place (e.g. "+example+" ) ", "now"); err != nil {
			return err
		}
	}
	if *leader == "" {
		*leader = c.Leader.Name
	} else if *leader != c.Leader.Name {
		return fmt.Errorf("member %s is not the leader of cluster %s (the leader is %s)", *leader, a.Scope, c.Leader.Name)
	}
	if *candidate != "" {
		if _, err := checkCandidate(c, a.Scope, *candidate); err != nil {
			return err
		}
		if syncMode(c) == "on" && !c.Sync.IsSync(*candidate) {
			return fmt.Errorf("switchover target %s must be a synchronous standby (synchronous_mode is on)", *candidate)
		}
	}
	at, err := a.parseScheduled(*scheduled)
	if err != nil {
		return err
	}
	if c.IsPaused() {
		if at != nil {
			return errors.New("cannot schedule a switchover while the cluster is paused")
		}
		if *candidate == "" {
			return errors.New("a switchover in a paused cluster needs --candidate")
		}
	}
	if !*force {
		q := fmt.Sprintf("Are you sure you want to switchover cluster %s, demoting current leader %s?", a.Scope, *leader)
		if at != nil {
			q = fmt.Sprintf("Are you sure you want to schedule a switchover of cluster %s at %s, demoting current leader %s?",
				a.Scope, at.Format(time.RFC3339), *leader)
		}
		if err := a.confirm(q); err != nil {
			return err
		}
	}
	api := client.SwitchoverRequest{Leader: *leader, Candidate: *candidate, ScheduledAt: at}
	do := func(ctx context.Context, c *client.Client) (client.Reply, error) { return c.Switchover(ctx, api) }
	req := &dcs.Failover{Leader: *leader, Member: *candidate, ScheduledAt: at}
	return a.requestFailover(ctx, "switchover", c.LeaderMember(), do, req)
}

func (a *App) cmdFailover(ctx context.Context, o failoverOptions) error {
	candidate, force, allowLoss := &o.candidate, &o.force, &o.allowLoss
	if *candidate == "" && *force {
		return fmt.Errorf("%w: failover needs --candidate (use switchover to let the agents choose)", ErrUsage)
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	if err := a.currentTopology(c); err != nil {
		return err
	}
	if *candidate == "" {
		if *candidate, err = a.promptDefault("Candidate "+candidateList(c), ""); err != nil {
			return err
		}
		if *candidate == "" {
			return errors.New("failover could be performed only to a specific candidate")
		}
	}
	cand, err := checkCandidate(c, a.Scope, *candidate)
	if err != nil {
		return err
	}
	if !*force {
		q := fmt.Sprintf("Are you sure you want to failover cluster %s to %s?", a.Scope, *candidate)
		if c.Leader != nil {
			q = fmt.Sprintf("Are you sure you want to failover cluster %s to %s, demoting current leader %s?", a.Scope, *candidate, c.Leader.Name)
		}
		if mode := syncMode(c); mode != "off" && !c.Sync.IsSync(*candidate) {
			q = fmt.Sprintf("%s is not a synchronous standby: acknowledged transactions may be lost. %s", *candidate, q)
		}
		if err := a.confirm(q); err != nil {
			return err
		}
	}
	// Patroni asks the leader when there is one, else the candidate.
	target := c.LeaderMember()
	if c.Leader == nil {
		target = cand
	}
	api := client.FailoverRequest{Candidate: *candidate, AllowDataLoss: *allowLoss}
	do := func(ctx context.Context, c *client.Client) (client.Reply, error) { return c.Failover(ctx, api) }
	req := &dcs.Failover{Member: *candidate}
	if *allowLoss {
		req.Extra = map[string]json.RawMessage{"allow_data_loss": json.RawMessage("true")}
	}
	return a.requestFailover(ctx, "failover", target, do, req)
}

// requestFailover asks target's REST API (do); if the API cannot be
// reached at all it writes req to the failover key directly, as
// patronictl does, and the agents act on it.
func (a *App) requestFailover(ctx context.Context, action string, target *dcs.Member,
	do func(context.Context, *client.Client) (client.Reply, error), req *dcs.Failover) error {
	var reply apiReply
	err := errors.New("no member to send the request to")
	name := ""
	if target != nil {
		name = target.Name
		reply, err = a.call(ctx, target, do)
	}
	var unreachable *unreachableError
	if err != nil && (target == nil || errors.As(err, &unreachable)) {
		fmt.Fprintf(a.Err, "%s Could not %s using the REST API (%v), falling back to the DCS\n", a.timestamp(), action, err)
		if _, perr := a.Store.Put(ctx, dcs.KeyFailover, req.Encode(), 0, dcs.Cond{}); perr != nil {
			return fmt.Errorf("%s: writing the failover key: %w", action, perr)
		}
		msg := strings.ToUpper(action[:1]) + action[1:] + " request written to the DCS; the agents will act on it"
		return a.report(actionResult{Member: name, Success: true, Message: msg, Via: "dcs"}, msg)
	}
	if err != nil {
		return err
	}
	res := actionResult{Member: name, Status: reply.Status, Message: reply.Text, Via: "api"}
	if reply.Status != 200 && reply.Status != 202 {
		if a.JSON {
			_ = a.printJSON(res)
		}
		return fmt.Errorf("%s failed, details: %d, %s", strings.ToUpper(action[:1])+action[1:], reply.Status, reply.Text)
	}
	res.Success = true
	if err := a.report(res, a.timestamp()+" "+reply.Text); err != nil {
		return err
	}
	if !a.JSON {
		c, _, err := a.cluster(ctx)
		if err != nil {
			return err
		}
		return a.outputMembers(c, false, fmtPretty)
	}
	return nil
}
