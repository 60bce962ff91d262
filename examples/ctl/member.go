package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi/client"
)

// selectMembers returns the named members (all when none are named),
// filtered by role: any, leader/primary or replica.
func (a *App) selectMembers(c *dcs.Cluster, names []string, role string) ([]*dcs.Member, error) {
	var out []*dcs.Member
	if len(names) == 0 {
		out = c.Members
	}
	for _, n := range names {
		m := c.Member(n)
		if m == nil {
			return nil, fmt.Errorf("member %s does not exist in cluster %s", n, a.Scope)
		}
		out = append(out, m)
	}
	leader := ""
	if c.Leader != nil {
		leader = c.Leader.Name
	}
	var filtered []*dcs.Member
	for _, m := range out {
		switch role {
		case "", "any":
		case "leader", "primary", "master", "standby-leader", "standby_leader":
			if m.Name != leader {
				continue
			}
		case "replica":
			if m.Name == leader {
				continue
			}
		default:
			return nil, fmt.Errorf("%w: --role %q: want any, leader, primary or replica", ErrUsage, role)
		}
		filtered = append(filtered, m)
	}
	if len(filtered) == 0 {
		return nil, errors.New("no member matches")
	}
	return filtered, nil
}

func memberNames(ms []*dcs.Member) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// confirmMembers reads the cluster, selects the members a command acts on
// (see selectMembers) and, unless force, asks the user to confirm the
// action on them.
func (a *App) confirmMembers(ctx context.Context, names []string, role, action string, force bool) ([]*dcs.Member, error) {
	c, _, err := a.cluster(ctx)
	if err != nil {
		return nil, err
	}
	members, err := a.selectMembers(c, names, role)
	if err != nil {
		return nil, err
	}
	if !force {
		if err := a.confirm("Are you sure you want to " + action + " members " + memberNames(members) + "?"); err != nil {
			return nil, err
		}
	}
	return members, nil
}

func (a *App) cmdRestart(ctx context.Context, args []string) error {
	fs := a.flags("restart")
	role := fs.String("role", "any", "restart only members in this role: any, leader or replica")
	pending := fs.Bool("pending", false, "restart only members with pending_restart")
	scheduled := fs.String("scheduled", "", "when: now, or an ISO 8601 time with a time zone")
	pgVersion := fs.String("pg-version", "", "restart only members running PostgreSQL older than this (e.g. 15.4)")
	timeout := fs.Duration("timeout", 0, "give up on the restart after this long (overrides primary_start_timeout)")
	force := fs.Bool("force", false, "do not ask for confirmation")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	at, err := a.parseScheduled(*scheduled)
	if err != nil {
		return err
	}
	members, err := a.confirmMembers(ctx, names, *role, "restart", *force)
	if err != nil {
		return err
	}
	if at == nil {
		if members, err = a.restartOrder(ctx, members); err != nil {
			return err
		}
	}
	// --role selected the members here; the request carries no role.
	req := client.RestartRequest{Schedule: at, PostgresVersion: *pgVersion, Timeout: *timeout, RestartPending: *pending}
	restart := func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.Restart(ctx, req) }
	return a.eachMember(ctx, members, "restart", restart, func(m *dcs.Member, r apiReply) (bool, string) {
		switch r.Status {
		case 200:
			return true, "Success: restart on member " + m.Name
		case 202:
			return true, "Success: restart scheduled on member " + m.Name
		}
		return false, fmt.Sprintf("Failed: restart for member %s, status code=%d, (%s)", m.Name, r.Status, r.Text)
	})
}

// restartOrder puts members in the order failover.RestartOrder gives, so
// that a raised max_connections (and the like) reaches the replicas before
// the primary, and a lowered one the primary first.
func (a *App) restartOrder(ctx context.Context, members []*dcs.Member) ([]*dcs.Member, error) {
	c, _, err := a.cluster(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*dcs.Member{}
	var names []string
	for _, m := range members {
		byName[m.Name] = m
		names = append(names, m.Name)
	}
	ordered, mixed := failover.RestartOrder(c, names)
	if mixed {
		fmt.Fprintln(a.Err, "warning: the pending changes raise one setting every member must share and lower another; "+
			"no restart order is safe for both: apply them in two steps")
	}
	out := make([]*dcs.Member, 0, len(ordered))
	for _, n := range ordered {
		out = append(out, byName[n])
	}
	return out, nil
}

func (a *App) cmdReload(ctx context.Context, args []string) error {
	fs := a.flags("reload")
	role := fs.String("role", "any", "reload only members in this role: any, leader or replica")
	force := fs.Bool("force", false, "do not ask for confirmation")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	members, err := a.confirmMembers(ctx, names, *role, "reload", *force)
	if err != nil {
		return err
	}
	reload := func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.Reload(ctx) }
	return a.eachMember(ctx, members, "reload", reload, func(m *dcs.Member, r apiReply) (bool, string) {
		if r.Status == 200 || r.Status == 202 {
			return true, "Reload request received for member " + m.Name
		}
		return false, fmt.Sprintf("Failed: reload for member %s, status code=%d, (%s)", m.Name, r.Status, r.Text)
	})
}

// eachMember runs do on every member's REST API in turn and reports each
// outcome; it fails if any member failed. endpoint names the action in
// messages.
func (a *App) eachMember(ctx context.Context, members []*dcs.Member, endpoint string,
	do func(context.Context, *client.Client) (client.Reply, error),
	judge func(*dcs.Member, apiReply) (bool, string)) error {
	var results []actionResult
	failed := 0
	for _, m := range members {
		r, err := a.call(ctx, m, do)
		res := actionResult{Member: m.Name, Status: r.Status, Via: "api"}
		if err != nil {
			res.Message = fmt.Sprintf("Failed: %s for member %s, (%v)", endpoint, m.Name, err)
		} else {
			res.Success, res.Message = judge(m, r)
		}
		if !res.Success {
			failed++
		}
		results = append(results, res)
		if !a.JSON {
			fmt.Fprintln(a.Out, res.Message)
		}
	}
	if a.JSON {
		if err := a.printJSON(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s failed on %d of %d members", endpoint, failed, len(members))
	}
	return nil
}
