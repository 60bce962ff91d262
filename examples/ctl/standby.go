package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi/client"
	"github.com/pgha/pgha/pg"
)

// clusterRoleOptions are demote-cluster's and promote-cluster's flags.
type clusterRoleOptions struct {
	demote bool
	// The standby_cluster section demote-cluster writes.
	host, restore, slot string
	port                int
	force               bool
	// waitLSN (promote-cluster): promote only once the standby leader has
	// replayed this position, e.g. the final LSN of the demoted former
	// primary cluster, so that a planned site switch loses nothing.
	waitLSN string
	// timeout bounds the waits (for waitLSN, and for the role change).
	timeout time.Duration
}

// cmdClusterRole turns the cluster into a standby cluster of a remote
// (demote-cluster) or a standby cluster into a primary one
// (promote-cluster), as Patroni 4 does: PATCH /config {"standby_cluster":
// {...} | null} on the leader, or a compare-and-swap of the config key
// when the leader's REST API does not answer; then it waits until the
// leader's role says the change happened.
func (a *App) cmdClusterRole(ctx context.Context, o clusterRoleOptions) error {
	var section any // nil: delete the section (promote)
	if o.demote {
		if o.host == "" && o.restore == "" {
			return fmt.Errorf("%w: demote-cluster needs --host or --restore-command", ErrUsage)
		}
		m := map[string]any{}
		for k, v := range map[string]string{"host": o.host, "restore_command": o.restore, "primary_slot_name": o.slot} {
			if v != "" {
				m[k] = v
			}
		}
		if o.port != 0 {
			m["port"] = o.port
		}
		raw, _ := json.Marshal(m)
		if _, err := failover.ParseStandbyCluster(raw); err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		section = m
	}
	var want pg.LSN
	if o.waitLSN != "" {
		var err error
		if want, err = pg.ParseLSN(o.waitLSN); err != nil {
			return fmt.Errorf("%w: --wait-lsn: %w", ErrUsage, err)
		}
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	lm := c.LeaderMember()
	if lm == nil {
		return errors.New("the cluster has no leader: nothing to demote or promote")
	}
	switch sc, _ := failover.StandbyClusterOf(c.Config); {
	case o.demote && sc.Active():
		return errors.New("the cluster is already a standby cluster (standby_cluster is set)")
	case !o.demote && !sc.Active():
		return errors.New("the cluster is not a standby cluster (standby_cluster is not set)")
	}
	verb := map[bool]string{true: "demote", false: "promote"}[o.demote]
	if !o.force {
		if err := a.confirm(fmt.Sprintf("Are you sure you want to %s cluster %s (leader %s)?", verb, a.Scope, lm.Name)); err != nil {
			return err
		}
	}
	if want != 0 {
		if lm, err = a.waitReplayed(ctx, want, o.timeout); err != nil {
			return err
		}
	}
	via, err := a.patchStandbyCluster(ctx, lm, section)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Err, "standby_cluster %s through the %s; waiting for %s to change its role\n",
		map[bool]string{true: "set", false: "removed"}[o.demote], via, lm.Name)
	role, err := a.waitLeaderRole(ctx, o.demote, o.timeout)
	if err != nil {
		return err
	}
	return a.report(map[string]any{"result": "success", "action": verb + "-cluster", "leader": role.Name, "role": role.Role, "via": via},
		fmt.Sprintf("Success: cluster %s %sd: %s is now %s", a.Scope, verb, role.Name, role.Role))
}

// patchStandbyCluster writes the standby_cluster section (nil removes it):
// PATCH /config on the leader, else a compare-and-swap of the config key.
// It returns which way it went.
func (a *App) patchStandbyCluster(ctx context.Context, lm *dcs.Member, section any) (string, error) {
	patch := map[string]any{failover.StandbyClusterKey: section}
	r, err := a.call(ctx, lm, func(ctx context.Context, c *client.Client) (client.Reply, error) {
		_, err := c.PatchConfig(ctx, patch)
		return client.Reply{StatusCode: 200}, err
	})
	if err == nil && r.Status == 200 {
		return "REST API of " + lm.Name, nil
	}
	why := fmt.Sprint(err)
	if err == nil {
		why = fmt.Sprintf("%d %s", r.Status, r.Text)
	}
	fmt.Fprintf(a.Err, "warning: PATCH /config on %s failed (%s): writing the config key directly\n", lm.Name, why)
	for attempt := 0; ; attempt++ {
		cur, err := a.readConfig(ctx)
		if err != nil {
			return "", err
		}
		next := deepCopy(cur.data).(map[string]any)
		if section == nil {
			delete(next, failover.StandbyClusterKey)
		} else {
			next[failover.StandbyClusterKey] = section
		}
		b, _ := json.Marshal(next)
		err = a.writeConfig(ctx, cur, b)
		if errors.Is(err, dcs.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", err
		}
		return "DCS", nil
	}
}

// waitReplayed waits until the leader's member key reports a replay (or
// receive, for a leader that already runs as primary: nothing to wait for)
// position at or past want, and returns the leader seen.
func (a *App) waitReplayed(ctx context.Context, want pg.LSN, timeout time.Duration) (*dcs.Member, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no leader"
	for {
		if c, _, err := a.cluster(wctx); err == nil {
			if lm := c.LeaderMember(); lm != nil {
				last = lm.Name + " has not reported a replay position"
				if lm.ReplayLSN != nil {
					last = fmt.Sprintf("%s replayed %s", lm.Name, pg.LSN(*lm.ReplayLSN))
					if pg.LSN(*lm.ReplayLSN) >= want {
						fmt.Fprintf(a.Err, "%s replayed %s (>= %s)\n", lm.Name, pg.LSN(*lm.ReplayLSN), want)
						return lm, nil
					}
				}
			}
		}
		select {
		case <-wctx.Done():
			return nil, fmt.Errorf("the standby leader did not replay %s within %v (%s): not promoting: %w", want, timeout, last, wctx.Err())
		case <-time.After(a.WaitInterval):
		}
	}
}

// waitLeaderRole waits until the leader (whoever it is) publishes the
// role the change leads to, running: standby_leader after a demotion,
// primary after a promotion.
func (a *App) waitLeaderRole(ctx context.Context, standby bool, timeout time.Duration) (*dcs.Member, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no leader"
	for {
		if c, _, err := a.cluster(wctx); err == nil {
			if lm := c.LeaderMember(); lm != nil {
				last = fmt.Sprintf("leader %s is %s, %s", lm.Name, lm.Role, lm.State)
				ok := lm.Role == dcs.RolePrimary || lm.Role == dcs.RoleMaster
				if standby {
					ok = lm.Role == dcs.RoleStandbyLeader
				}
				if ok && lm.State == dcs.StateRunning {
					return lm, nil
				}
			}
		}
		select {
		case <-wctx.Done():
			return nil, fmt.Errorf("the role did not change within %v (%s): %w", timeout, strings.TrimSpace(last), wctx.Err())
		case <-time.After(a.WaitInterval):
		}
	}
}
