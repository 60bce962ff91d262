package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi/client"
)

// Roles of --role, as patronictl 4 names them (master is accepted for
// older scripts).
const (
	roleAny           = "any"
	roleLeader        = "leader"
	rolePrimary       = "primary"
	roleStandbyLeader = "standby-leader"
	roleReplica       = "replica"
	roleStandby       = "standby"
)

// membersInRole returns the members in role, as patronictl's
// get_all_members: leader is the leader key's holder, primary the leader
// when it is not a standby leader, standby-leader the leader when it is
// one, replica and standby every other member, any every member.
func membersInRole(c *dcs.Cluster, role string) ([]*dcs.Member, error) {
	leader := c.LeaderMember()
	standby := c.Config != nil && c.Config.Extra["standby_cluster"] != nil && string(c.Config.Extra["standby_cluster"]) != "null"
	switch role {
	case roleLeader, "master", "standby_leader", roleStandbyLeader, rolePrimary:
		if leader == nil {
			return nil, nil
		}
		isStandby := standby || leader.Role == dcs.RoleStandbyLeader
		if (role == rolePrimary || role == "master") && isStandby || (role == roleStandbyLeader || role == "standby_leader") && !isStandby {
			return nil, nil
		}
		return []*dcs.Member{leader}, nil
	case roleReplica, roleStandby:
		var out []*dcs.Member
		for _, m := range c.Members {
			if leader == nil || m.Name != leader.Name {
				out = append(out, m)
			}
		}
		return out, nil
	case "", roleAny:
		return c.Members, nil
	}
	return nil, fmt.Errorf("%w: --role %q: want any, leader, primary, standby-leader, replica or standby", ErrUsage, role)
}

// splitCluster takes the CLUSTER argument off the member names of
// restart, reload, reinit and flush. patronictl requires it; pgha-ctl
// also accepts member names alone, as it did before, so a first
// argument that is not the configured scope is taken as a member name.
func (a *App) splitCluster(args []string) []string {
	if len(args) > 0 && args[0] == a.Scope {
		return args[1:]
	}
	return args
}

// selectMembers returns the named members (all when none are named) in
// role.
func (a *App) selectMembers(c *dcs.Cluster, names []string, role string) ([]*dcs.Member, error) {
	inRole, err := membersInRole(c, role)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if len(inRole) == 0 {
			return nil, fmt.Errorf("no member of cluster %s is in role %s", a.Scope, role)
		}
		return inRole, nil
	}
	var out []*dcs.Member
	for _, n := range names {
		m := c.Member(n)
		if m == nil {
			return nil, fmt.Errorf("member %s does not exist in cluster %s", n, a.Scope)
		}
		if slices.Contains(inRole, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s among the members given", role)
	}
	return out, nil
}

func memberNames(ms []*dcs.Member) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// restartOptions are restart's flags.
type restartOptions struct {
	role, scheduled, pgVersion, timeout string
	any, pending, force                 bool
}

var pgVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){1,2}$`)

// parseTimeout reads --timeout: seconds as patronictl takes them, or a
// Go duration ("30s").
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%w: --timeout %q: want a number of seconds or a duration such as 30s", ErrUsage, s)
}

func (a *App) cmdRestart(ctx context.Context, args []string, o restartOptions) error {
	at, err := a.parseScheduled(o.scheduled)
	if err != nil {
		return err
	}
	timeout, err := parseTimeout(o.timeout)
	if err != nil {
		return err
	}
	if o.pgVersion != "" && !pgVersionRE.MatchString(o.pgVersion) {
		return fmt.Errorf("%w: --pg-version %q: want a PostgreSQL version such as 15.4 or 9.6.24", ErrUsage, o.pgVersion)
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	members, err := a.selectMembers(c, a.splitCluster(args), o.role)
	if err != nil {
		return err
	}
	// As patronictl, the cluster is shown first (--role defaults to
	// "any", so even with --force).
	if !a.JSON {
		if err := a.outputMembers(c, false, fmtPretty); err != nil {
			return err
		}
	}
	if !o.force {
		if o.scheduled == "" {
			example := a.Now().Add(time.Hour).Format("2006-01-02T15:04")
			s, err := a.promptDefault("When should the restart take place (e.g. "+example+") ", "now")
			if err != nil {
				return err
			}
			if at, err = a.parseScheduled(s); err != nil {
				return err
			}
		}
	}
	if at != nil && c.IsPaused() {
		return errors.New("can't schedule a restart in the paused state")
	}
	if o.pending && at == nil {
		// A scheduled restart finds the members needing one when it runs.
		members = slices.DeleteFunc(members, func(m *dcs.Member) bool { return !m.PendingRestart })
		if len(members) == 0 {
			fmt.Fprintln(a.Out, "No member has a pending restart")
			return nil
		}
	}
	if o.any {
		members = []*dcs.Member{members[rand.IntN(len(members))]}
	}
	if !o.force {
		q := "Are you sure you want to restart members " + memberNames(members) + "?"
		switch {
		case at != nil && o.pending:
			q = "The nodes needing a restart will be identified at the scheduled time, and might be different from the ones showing pending restart right now. Is this fine?"
		case at != nil:
			q = fmt.Sprintf("Are you sure you want to schedule restart of members %s at %s?", memberNames(members), at.Format(time.RFC3339))
		}
		if err := a.confirm(q); err != nil {
			return err
		}
		if o.pgVersion == "" {
			v, err := a.promptDefault("Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ", "")
			if err != nil {
				return err
			}
			if v != "" && !pgVersionRE.MatchString(v) {
				return fmt.Errorf("%w: %q: want a PostgreSQL version such as 15.4 or 9.6.24", ErrUsage, v)
			}
			o.pgVersion = v
		}
	}
	if at == nil {
		if members, err = a.restartOrder(c, members); err != nil {
			return err
		}
	}
	// --role selected the members here; the request carries no role.
	req := client.RestartRequest{Schedule: at, PostgresVersion: o.pgVersion, Timeout: timeout, RestartPending: o.pending}
	restart := func(ctx context.Context, api *client.Client) (client.Reply, error) {
		return api.Restart(ctx, req)
	}
	return a.eachMember(ctx, members, "restart", func(ctx context.Context, m *dcs.Member) (apiReply, error) {
		// As patronictl: with --scheduled --force, a restart already
		// scheduled on the member is replaced.
		if at != nil && o.force && len(m.ScheduledRestart) > 0 {
			r, err := a.call(ctx, m, func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.CancelRestart(ctx) })
			if err == nil && r.Status >= 400 {
				fmt.Fprintf(a.Out, "Failed: flush scheduled restart for member %s, status code=%d, (%s)\n", m.Name, r.Status, r.Text)
			}
		}
		return a.call(ctx, m, restart)
	}, func(m *dcs.Member, r apiReply) (bool, string) {
		switch r.Status {
		case 200:
			return true, "Success: restart on member " + m.Name
		case 202:
			return true, "Success: restart scheduled on member " + m.Name
		case 409:
			return false, "Failed: another restart is already scheduled on member " + m.Name
		}
		return false, fmt.Sprintf("Failed: restart for member %s, status code=%d, (%s)", m.Name, r.Status, r.Text)
	})
}

// restartOrder puts members in the order failover.RestartOrder gives, so
// that a raised max_connections (and the like) reaches the replicas before
// the primary, and a lowered one the primary first.
func (a *App) restartOrder(c *dcs.Cluster, members []*dcs.Member) ([]*dcs.Member, error) {
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

// confirmMembers reads the cluster, selects the members a command acts on
// (see selectMembers) and, unless force, shows the cluster and asks the
// operator to confirm the action on them.
func (a *App) confirmMembers(ctx context.Context, names []string, role, action string, force bool) (*dcs.Cluster, []*dcs.Member, error) {
	c, _, err := a.cluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	members, err := a.selectMembers(c, names, role)
	if err != nil {
		return nil, nil, err
	}
	// As patronictl, the cluster is shown first (--role defaults to
	// "any", so even with --force).
	if !a.JSON {
		if err := a.outputMembers(c, false, fmtPretty); err != nil {
			return nil, nil, err
		}
	}
	if !force {
		if err := a.confirm("Are you sure you want to " + action + " members " + memberNames(members) + "?"); err != nil {
			return nil, nil, err
		}
	}
	return c, members, nil
}

func (a *App) cmdReload(ctx context.Context, args []string, role string, force bool) error {
	c, members, err := a.confirmMembers(ctx, a.splitCluster(args), role, "reload", force)
	if err != nil {
		return err
	}
	loopWait := 10
	if c.Config != nil {
		if s := dcs.Seconds(c.Config.LoopWait, 0); s > 0 {
			loopWait = int(s.Seconds())
		}
	}
	reload := func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.Reload(ctx) }
	return a.eachMember(ctx, members, "reload", a.callWith(reload), func(m *dcs.Member, r apiReply) (bool, string) {
		switch r.Status {
		case 200:
			return true, "No changes to apply on member " + m.Name
		case 202:
			return true, fmt.Sprintf("Reload request received for member %s and will be processed within %d seconds", m.Name, loopWait)
		}
		return false, fmt.Sprintf("Failed: reload for member %s, status code=%d, (%s)", m.Name, r.Status, r.Text)
	})
}

// reinitOptions are reinit's flags.
type reinitOptions struct{ force, fromLeader, wait bool }

func (a *App) cmdReinit(ctx context.Context, args []string, o reinitOptions) error {
	names := a.splitCluster(args)
	if len(names) == 0 && !o.force {
		c, _, err := a.cluster(ctx)
		if err != nil {
			return err
		}
		replicas, err := membersInRole(c, roleReplica)
		if err != nil {
			return err
		}
		name, err := a.promptDefault("Which member do you want to reinitialize ["+memberNames(replicas)+"]?", "")
		if err != nil {
			return err
		}
		if name != "" {
			names = []string{name}
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: name the members to reinitialize", ErrUsage)
	}
	_, members, err := a.confirmMembers(ctx, names, roleReplica, "reinitialize", o.force)
	if err != nil {
		return err
	}
	var wait []*dcs.Member
	failed := 0
	for _, m := range members {
		req := client.ReinitializeRequest{Force: o.force, FromLeader: o.fromLeader}
		for {
			r, err := a.call(ctx, m, func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.Reinitialize(ctx, req) })
			if err != nil {
				fmt.Fprintf(a.Out, "Failed: reinitialize for member %s, (%v)\n", m.Name, err)
				failed++
				break
			}
			if r.Status < 400 {
				fmt.Fprintf(a.Out, "Success: reinitialize for member %s\n", m.Name)
				if o.wait {
					wait = append(wait, m)
				}
				break
			}
			fmt.Fprintf(a.Out, "Failed: reinitialize for member %s, status code=%d, (%s)\n", m.Name, r.Status, r.Text)
			if !req.Force && strings.HasSuffix(r.Text, " already in progress") &&
				a.confirm("Do you want to cancel it and reinitialize anyway?") == nil {
				req.Force = true
				continue
			}
			failed++
			break
		}
	}
	if len(wait) > 0 {
		fmt.Fprintf(a.Out, "Waiting for reinitialize to complete on: %s\n", memberNames(wait))
	}
	for len(wait) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for reinitialize: %w", ctx.Err())
		case <-time.After(a.WaitInterval):
		}
		wait = slices.DeleteFunc(wait, func(m *dcs.Member) bool {
			api, err := a.api(m)
			if err != nil {
				return false
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			st, err := api.Patroni(cctx)
			if err != nil || st.State == "creating replica" {
				return false
			}
			fmt.Fprintf(a.Out, "Reinitialize is completed on: %s\n", m.Name)
			return true
		})
	}
	if failed > 0 {
		return fmt.Errorf("reinitialize failed on %d of %d members", failed, len(members))
	}
	return nil
}

func (a *App) cmdFlush(ctx context.Context, args []string, role string, force bool) error {
	target := args[len(args)-1]
	names := a.splitCluster(args[:len(args)-1])
	switch target {
	case "restart":
		_, members, err := a.confirmMembers(ctx, names, role, "flush", force)
		if err != nil {
			return err
		}
		var scheduled []*dcs.Member
		for _, m := range members {
			if len(m.ScheduledRestart) > 0 {
				scheduled = append(scheduled, m)
			} else {
				fmt.Fprintf(a.Out, "No scheduled restart for member %s\n", m.Name)
			}
		}
		if len(scheduled) == 0 {
			return nil
		}
		cancel := func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.CancelRestart(ctx) }
		return a.eachMember(ctx, scheduled, "flush scheduled restart", a.callWith(cancel), func(m *dcs.Member, r apiReply) (bool, string) {
			if r.Status < 400 {
				return true, "Success: flush scheduled restart for member " + m.Name
			}
			return false, fmt.Sprintf("Failed: flush scheduled restart for member %s, status code=%d, (%s)", m.Name, r.Status, r.Text)
		})
	case "switchover":
		if len(names) > 0 {
			return fmt.Errorf("%w: flush switchover takes no member names", ErrUsage)
		}
		return a.flushSwitchover(ctx)
	}
	return fmt.Errorf("%w: flush: the last argument is %q: want restart or switchover", ErrUsage, target)
}

// flushSwitchover cancels a scheduled switchover through the first member
// that answers, leader first, as patronictl does; when none answers, it
// clears the failover key with compare-and-swap.
func (a *App) flushSwitchover(ctx context.Context) error {
	c, snap, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	if c.Failover == nil || c.Failover.ScheduledAt == nil {
		fmt.Fprintln(a.Out, "No pending scheduled switchover")
		return nil
	}
	var ordered []*dcs.Member
	if lm := c.LeaderMember(); lm != nil && lm.APIURL != "" {
		ordered = append(ordered, lm)
	}
	for _, m := range c.Members {
		if m.APIURL != "" && !slices.Contains(ordered, m) {
			ordered = append(ordered, m)
		}
	}
	for _, m := range ordered {
		r, err := a.call(ctx, m, func(ctx context.Context, api *client.Client) (client.Reply, error) { return api.CancelSwitchover(ctx) })
		switch {
		case err != nil:
			fmt.Fprintf(a.Err, "warning: member %s is not accessible: %v\n", m.Name, err)
		case r.Status == 200:
			fmt.Fprintf(a.Out, "Success: %s\n", r.Text)
			return nil
		case r.Status == 404:
			fmt.Fprintf(a.Out, "Failed: %s\n", r.Text)
			return errors.New("no scheduled switchover to flush")
		default:
			fmt.Fprintf(a.Out, "Failed: member=%s, status_code=%d, (%s)\n", m.Name, r.Status, r.Text)
		}
	}
	fmt.Fprintf(a.Out, "%s Could not find any accessible member of cluster %s\n", a.timestamp(), a.Scope)
	var rev int64
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyFailover {
			rev = kv.ModRevision
		}
	}
	if _, err := a.Store.Put(ctx, dcs.KeyFailover, []byte("{}"), 0, dcs.Cond{ModRevision: rev, Absent: rev == 0}); err != nil {
		return fmt.Errorf("clearing the failover key: %w", err)
	}
	return nil
}

func (a *App) cmdVersion(ctx context.Context, cluster string, names []string) error {
	if err := a.checkCluster(cluster); err != nil {
		return err
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Out)
	failed := 0
	for _, m := range c.Members {
		if m.APIURL == "" || len(names) > 0 && !slices.Contains(names, m.Name) {
			continue
		}
		st, err := a.status(ctx, m)
		if err != nil {
			fmt.Fprintf(a.Out, "%s: failed to get version: %v\n", m.Name, err)
			failed++
			continue
		}
		pg := ""
		if st.ServerVersion > 0 {
			pg = " PostgreSQL " + formatPGVersion(st.ServerVersion)
		}
		fmt.Fprintf(a.Out, "%s: Patroni %s%s\n", m.Name, listing.CleanCell(st.Patroni.Version), pg)
	}
	if failed > 0 {
		return fmt.Errorf("%d members did not tell their version", failed)
	}
	return nil
}

// status reads a member's GET /patroni.
func (a *App) status(ctx context.Context, m *dcs.Member) (*client.Status, error) {
	api, err := a.api(m)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return api.Patroni(ctx)
}

// formatPGVersion renders server_version_num as PostgreSQL does: 90624
// is 9.6.24, 150004 is 15.4.
func formatPGVersion(v int) string {
	if v < 100000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d", v/10000, v%100)
}

// callWith adapts a client action to eachMember.
func (a *App) callWith(do func(context.Context, *client.Client) (client.Reply, error)) func(context.Context, *dcs.Member) (apiReply, error) {
	return func(ctx context.Context, m *dcs.Member) (apiReply, error) { return a.call(ctx, m, do) }
}

// eachMember runs do on every member in turn and reports each outcome;
// it fails if any member failed. endpoint names the action in messages.
func (a *App) eachMember(ctx context.Context, members []*dcs.Member, endpoint string,
	do func(context.Context, *dcs.Member) (apiReply, error),
	judge func(*dcs.Member, apiReply) (bool, string)) error {
	var results []actionResult
	failed := 0
	for _, m := range members {
		r, err := do(ctx, m)
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
