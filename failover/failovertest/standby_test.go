package failovertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// standbyPair starts a primary cluster (a1..a3, scope "a") and a standby
// cluster of it (b1..b3, scope "b", standby_cluster in the bootstrap
// configuration pointing at a1) on one simulated network.
func standbyPair(t *testing.T, onRoleChange func(failover.HookInfo)) (a, b *failovertest.Cluster, aLeader *failovertest.Node) {
	t.Helper()
	return standbyPairWith(t, onRoleChange, nil)
}

// standbyPairWith is standbyPair with onEvent receiving the standby
// cluster's events (nil: none).
func standbyPairWith(t *testing.T, onRoleChange func(failover.HookInfo), onEvent func(failover.Event)) (a, b *failovertest.Cluster, aLeader *failovertest.Node) {
	t.Helper()
	net := pgtest.NewNetwork(nil)
	a = failovertest.NewCluster(t, failovertest.Options{Scope: "a", NamePrefix: "a", Network: net})
	aLeader, err := a.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	remote := aLeader.Server.Addr()
	sc := fmt.Sprintf(`{"host": %q, "port": %d, "restore_command": "cp /archive/%%f %%p", "recovery_min_apply_delay": 0}`, remote.Host, remote.Port)
	b = failovertest.NewCluster(t, failovertest.Options{Scope: "b", NamePrefix: "b", Network: net,
		Configure: func(i int, o *failover.ControllerOptions) {
			o.BootstrapConfig = &dcs.ClusterConfig{Extra: map[string]json.RawMessage{failover.StandbyClusterKey: json.RawMessage(sc)}}
			if onRoleChange != nil {
				o.Hooks.OnRoleChange = func(_ context.Context, h failover.HookInfo) { onRoleChange(h) }
			}
			o.OnEvent = onEvent
		}})
	return a, b, aLeader
}

// memberRole reads name's published role from c's DCS.
func memberRole(c *failovertest.Cluster, name string) (string, error) {
	snap, err := c.Store().Get(context.Background())
	if err != nil {
		return "", err
	}
	m := dcs.Parse(snap).Member(name)
	if m == nil {
		return "", fmt.Errorf("%s has no member key", name)
	}
	return m.Role, nil
}

// TestStandbyClusterFollowsAndFailsOver: the standby cluster's first node
// clones the remote primary and leads as standby_leader (member key and
// health API), following the remote with the section's recovery settings,
// with its replicas cascading from it; WAL written on the primary cluster
// reaches every member. When the standby leader crashes another member
// takes over as standby leader and follows the remote; removing
// standby_cluster from the config key promotes it.
func TestStandbyClusterFollowsAndFailsOver(t *testing.T) {
	var mu sync.Mutex
	roles := map[string][]string{}
	_, b, aLeader := standbyPair(t, func(h failover.HookInfo) {
		mu.Lock()
		defer mu.Unlock()
		roles[h.Member] = append(roles[h.Member], h.Role)
	})
	bl, err := b.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "on_role_change standby_leader on the standby leader", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(roles[bl.Name], dcs.RoleStandbyLeader) {
			return fmt.Errorf("on_role_change roles %v", roles)
		}
		return nil
	})
	eventually(t, 5*time.Second, "the member key says standby_leader", func() error {
		r, err := memberRole(b, bl.Name)
		if err == nil && r != dcs.RoleStandbyLeader {
			err = fmt.Errorf("role %q", r)
		}
		return err
	})
	fc := bl.Server.FollowConfig()
	if fc.Upstream.Host != aLeader.Server.Addr().Host || fc.Recovery["restore_command"] != "cp /archive/%f %p" || fc.Recovery["recovery_min_apply_delay"] != "0" {
		t.Errorf("standby leader follows %+v, want the remote %v with the section's recovery settings", fc, aLeader.Server.Addr())
	}
	for _, n := range b.Nodes() {
		if n == bl {
			continue
		}
		if up := n.Server.FollowConfig().Upstream; up.Host != bl.Name {
			t.Errorf("%s follows %v, want the standby leader %s", n.Name, up, bl.Name)
		}
	}
	hasEverywhere := func(cm *pgtest.Commit) {
		t.Helper()
		eventually(t, 10*time.Second, "the commit reaches every running standby-cluster member", func() error {
			for _, n := range b.Nodes() {
				if !n.Stopped() && !n.Server.Has(cm) {
					return fmt.Errorf("%s lacks %v", n.Name, cm)
				}
			}
			return nil
		})
	}
	cm, err := aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hasEverywhere(cm)

	// Failover inside the standby cluster.
	if err := bl.Crash(); err != nil {
		t.Fatal(err)
	}
	var nl *failovertest.Node
	eventually(t, settleTimeout, "another member becomes standby leader", func() error {
		nl = b.Leader()
		if nl == nil || nl == bl {
			return fmt.Errorf("leader %v", nl)
		}
		if st := nl.Controller.State(); st.Role != dcs.RoleStandbyLeader || st.PGState != dcs.StateRunning {
			return fmt.Errorf("%s: role %s, state %s", nl.Name, st.Role, st.PGState)
		}
		if up := nl.Server.FollowConfig().Upstream; up.Host != aLeader.Server.Addr().Host {
			return fmt.Errorf("%s follows %v", nl.Name, up)
		}
		if nl.Server.Role() != pg.RoleReplica {
			return fmt.Errorf("%s runs as %s", nl.Name, nl.Server.Role())
		}
		return nil
	})
	eventually(t, 5*time.Second, "on_role_change standby_leader on the new standby leader", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(roles[nl.Name], dcs.RoleStandbyLeader) {
			return fmt.Errorf("on_role_change roles %v", roles)
		}
		return nil
	})
	cm, err = aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hasEverywhere(cm)

	// promote-cluster: standby_cluster removed from the config key.
	ctx := context.Background()
	snap, err := b.Store().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl := dcs.Parse(snap)
	if cl.Config == nil || cl.Config.Extra[failover.StandbyClusterKey] == nil {
		t.Fatalf("the standby cluster's config key lacks standby_cluster: %+v", cl.Config)
	}
	delete(cl.Config.Extra, failover.StandbyClusterKey)
	if _, err := b.Store().Put(ctx, dcs.KeyConfig, cl.Config.Encode(), 0, dcs.Cond{ModRevision: cl.Config.ModRevision}); err != nil {
		t.Fatal(err)
	}
	eventually(t, settleTimeout, "the standby leader is promoted", func() error {
		st := nl.Controller.State()
		if st.Role != dcs.RolePrimary || nl.Server.Role() != pg.RolePrimary || st.StandbyCluster {
			return fmt.Errorf("%s: role %s (server %s), standby cluster %v", nl.Name, st.Role, nl.Server.Role(), st.StandbyCluster)
		}
		return nil
	})
	if lost := b.Network().LostCommits(nl.Server); len(lost) > 0 {
		t.Errorf("acknowledged commits missing on the promoted standby leader: %v", lost)
	}
}

// setStandbyCluster writes section (nil removes it) into c's config key.
func setStandbyCluster(t *testing.T, c *failovertest.Cluster, section json.RawMessage) {
	t.Helper()
	editConfig(t, c, func(cfg *dcs.ClusterConfig) {
		if cfg.Extra == nil {
			cfg.Extra = map[string]json.RawMessage{}
		}
		if section == nil {
			delete(cfg.Extra, failover.StandbyClusterKey)
		} else {
			cfg.Extra[failover.StandbyClusterKey] = section
		}
	})
}

// editConfig changes c's config key with edit (compare-and-swap).
func editConfig(t *testing.T, c *failovertest.Cluster, edit func(*dcs.ClusterConfig)) {
	t.Helper()
	ctx := context.Background()
	snap, err := c.Store().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dcs.Parse(snap).Config
	if cfg == nil {
		t.Fatalf("%s has no config key", c.Nodes()[0].Name)
	}
	edit(cfg)
	if _, err := c.Store().Put(ctx, dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{ModRevision: cfg.ModRevision}); err != nil {
		t.Fatal(err)
	}
}

// TestStandbyClusterSiteSwitch: a planned site switch on the simulation.
// Adding standby_cluster to the primary cluster's config demotes its
// primary (fast stop, the term kept) to a standby leader following the
// standby cluster's leader; once that one has all of the old primary's
// WAL, removing standby_cluster promotes it. No acknowledged commit is
// lost, and the old site follows the new primary's timeline.
func TestStandbyClusterSiteSwitch(t *testing.T) {
	a, b, aLeader := standbyPair(t, nil)
	bl, err := b.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := aLeader.Commit(100, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Site A runs in synchronous mode: its sync key must not outlive the
	// demotion (there is no synchronous mode in a standby cluster, so the
	// primary's sync manager deletes it once standby_cluster is set).
	editConfig(t, a, func(cfg *dcs.ClusterConfig) { on := "on"; cfg.SynchronousMode = &on })
	eventually(t, settleTimeout, "site A has a sync standby", func() error {
		snap, err := a.Store().Get(context.Background())
		if err != nil {
			return err
		}
		if sy := dcs.Parse(snap).Sync; sy == nil || len(sy.SyncStandby) == 0 {
			return fmt.Errorf("sync key %+v", sy)
		}
		return nil
	})
	remote := bl.Server.Addr()
	setStandbyCluster(t, a, json.RawMessage(fmt.Sprintf(`{"host": %q, "port": %d}`, remote.Host, remote.Port)))
	eventually(t, settleTimeout, "site A's primary is demoted to standby leader, keeping the term", func() error {
		st := aLeader.Controller.State()
		if st.Role != dcs.RoleStandbyLeader || !st.IsLeader || aLeader.Server.Role() != pg.RoleReplica {
			return fmt.Errorf("%s: role %s, leader %v, server %s", aLeader.Name, st.Role, st.IsLeader, aLeader.Server.Role())
		}
		if up := aLeader.Server.FollowConfig().Upstream; up.Host != remote.Host {
			return fmt.Errorf("%s follows %v", aLeader.Name, up)
		}
		return nil
	})
	if l := a.Leader(); l != aLeader {
		t.Errorf("site A's leader is %v, want %s to have kept the term", l, aLeader.Name)
	}
	eventually(t, settleTimeout, "the sync key is gone", func() error {
		snap, err := a.Store().Get(context.Background())
		if err != nil {
			return err
		}
		if sy := dcs.Parse(snap).Sync; sy != nil {
			return fmt.Errorf("sync key %+v", sy)
		}
		return nil
	})
	final := aLeader.Server.WALEnd()
	eventually(t, settleTimeout, "site B's standby leader has site A's final WAL", func() error {
		if got := bl.Server.WALEnd(); got < final {
			return fmt.Errorf("%s at %v, want %v", bl.Name, got, final)
		}
		return nil
	})
	setStandbyCluster(t, b, nil)
	eventually(t, settleTimeout, "site B's standby leader is promoted", func() error {
		if st := bl.Controller.State(); st.Role != dcs.RolePrimary || bl.Server.Role() != pg.RolePrimary {
			return fmt.Errorf("%s: role %s, server %s", bl.Name, st.Role, bl.Server.Role())
		}
		return nil
	})
	if lost := b.Network().LostCommits(bl.Server); len(lost) > 0 {
		t.Errorf("acknowledged commits lost in the site switch: %v", lost)
	}
	cm, err := bl.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, settleTimeout, "site A follows the new primary", func() error {
		for _, n := range a.Nodes() {
			if !n.Server.Has(cm) {
				return fmt.Errorf("%s lacks %v", n.Name, cm)
			}
		}
		return nil
	})
}

// TestStandbyClusterRestoredFromBackup: a standby cluster with no host,
// only restore_command and create_replica_methods naming a no_leader
// restore, creates its first member with that method (not from a remote,
// not with the member's own methods), which leads as standby_leader
// following no upstream; the other members clone from it with their own
// methods and cascade from it.
func TestStandbyClusterRestoredFromBackup(t *testing.T) {
	net := pgtest.NewNetwork(nil)
	a := failovertest.NewCluster(t, failovertest.Options{Scope: "a", NamePrefix: "a", Network: net})
	aLeader, err := a.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sc := `{"restore_command": "cp /archive/%f %p", "create_replica_methods": ["restore"]}`
	b := failovertest.NewCluster(t, failovertest.Options{Scope: "b", NamePrefix: "b", Network: net,
		Configure: func(i int, o *failover.ControllerOptions) {
			o.BootstrapConfig = &dcs.ClusterConfig{Extra: map[string]json.RawMessage{failover.StandbyClusterKey: json.RawMessage(sc)}}
			o.Instance.(*pgtest.Server).AddRestoreMethod("restore", aLeader.Server)
		}})
	bl, err := b.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the member key says standby_leader", func() error {
		r, err := memberRole(b, bl.Name)
		if err == nil && r != dcs.RoleStandbyLeader {
			err = fmt.Errorf("role %q", r)
		}
		return err
	})
	reqs := bl.Server.CloneRequests()
	if len(reqs) != 1 || !reqs[0].Upstream.IsZero() || !slices.Equal(reqs[0].Methods, []string{"restore"}) {
		t.Errorf("standby leader's clone requests %+v, want one with methods [restore] and no upstream", reqs)
	}
	if !bl.Server.Has(cm) {
		t.Errorf("the restored standby leader lacks the backup's commit %v", cm)
	}
	if fc := bl.Server.FollowConfig(); !fc.Upstream.IsZero() || fc.Recovery["restore_command"] != "cp /archive/%f %p" {
		t.Errorf("standby leader follows %+v, want no upstream and the section's restore_command", fc)
	}
	eventually(t, settleTimeout, "the other members cascade from the standby leader", func() error {
		for _, n := range b.Nodes() {
			if n == bl {
				continue
			}
			if up := n.Server.FollowConfig().Upstream; up.Host != bl.Name || n.Server.State() != pg.StateRunning {
				return fmt.Errorf("%s (%s) follows %v", n.Name, n.Server.State(), up)
			}
			if !n.Server.Has(cm) {
				return fmt.Errorf("%s lacks %v", n.Name, cm)
			}
			reqs := n.Server.CloneRequests()
			if len(reqs) == 0 || reqs[len(reqs)-1].Upstream.Host != bl.Name || len(reqs[len(reqs)-1].Methods) != 0 {
				return fmt.Errorf("%s's clone requests %+v, want its own methods from %s", n.Name, reqs, bl.Name)
			}
		}
		return nil
	})
	initOf := func(c *failovertest.Cluster) string {
		snap, err := c.Store().Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cl := dcs.Parse(snap); cl.Initialize != nil {
			return *cl.Initialize
		}
		return ""
	}
	if ai, bi := initOf(a), initOf(b); ai == "" || ai != bi {
		t.Errorf("standby cluster's initialize key %q, want the primary cluster's system identifier %q", bi, ai)
	}
}

// TestStandbyClusterSwitchover: a switchover inside the standby cluster to
// a named candidate moves the standby leader role: the candidate ends as
// the one standby leader, following the remote, the old standby leader as
// a replica following it; nobody in the standby cluster is promoted,
// demoted or fenced (no such event, no primary role change, the remote's
// timeline everywhere), and WAL written on the primary cluster afterwards
// still reaches every member.
func TestStandbyClusterSwitchover(t *testing.T) {
	var mu sync.Mutex
	roles := map[string][]string{}
	var primaryEvents []failover.Event // none may happen in the standby cluster
	_, b, aLeader := standbyPairWith(t, func(h failover.HookInfo) {
		mu.Lock()
		defer mu.Unlock()
		roles[h.Member] = append(roles[h.Member], h.Role)
	}, func(e failover.Event) {
		switch e.Kind {
		case failover.EventPromoted, failover.EventDemoted, failover.EventFenced:
			mu.Lock()
			defer mu.Unlock()
			primaryEvents = append(primaryEvents, e)
		}
	})
	bl, err := b.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var cand *failovertest.Node
	eventually(t, settleTimeout, "a replica streams from the standby leader", func() error {
		for _, n := range b.Nodes() {
			if n != bl && n.Controller.State().Role == dcs.RoleReplica && n.Server.FollowConfig().Upstream.Host == bl.Name {
				cand = n
				return nil
			}
		}
		return fmt.Errorf("no replica of %s yet", bl.Name)
	})
	cm, err := aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the candidate has the commit", func() error {
		if !cand.Server.Has(cm) {
			return fmt.Errorf("%s lacks %v", cand.Name, cm)
		}
		return nil
	})

	// synchronous_mode in a standby cluster's config key is off (warned),
	// and must not hold the switchover to a sync key nobody maintains
	// (Patroni issue #2892).
	snap, err := b.Store().Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := dcs.Parse(snap).Config
	on := failover.SyncOn
	cfg.SynchronousMode = &on
	if _, err := b.Store().Put(context.Background(), dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{ModRevision: cfg.ModRevision}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	res, err := bl.Controller.Switchover(ctx, healthapi.SwitchoverRequest{Leader: bl.Name, Candidate: cand.Name})
	if err != nil {
		t.Fatalf("switchover %s -> %s: %v", bl.Name, cand.Name, err)
	}
	t.Logf("switchover: %s", res.Message)
	remote := aLeader.Server.Addr()
	eventually(t, settleTimeout, "the candidate is the one standby leader, the old one its replica", func() error {
		if l := b.Leader(); l != cand {
			return fmt.Errorf("leader %v, want %s", l, cand.Name)
		}
		if st := cand.Controller.State(); st.Role != dcs.RoleStandbyLeader || st.PGState != dcs.StateRunning || cand.Server.Role() != pg.RoleReplica {
			return fmt.Errorf("%s: role %s, state %s, server %s", cand.Name, st.Role, st.PGState, cand.Server.Role())
		}
		if up := cand.Server.FollowConfig().Upstream; up.Host != remote.Host || up.Port != remote.Port {
			return fmt.Errorf("%s follows %v, want the remote %v", cand.Name, up, remote)
		}
		if st := bl.Controller.State(); st.Role != dcs.RoleReplica || st.IsLeader || bl.Server.Role() != pg.RoleReplica {
			return fmt.Errorf("%s: role %s, leader %v, server %s", bl.Name, st.Role, st.IsLeader, bl.Server.Role())
		}
		if up := bl.Server.FollowConfig().Upstream; up.Host != cand.Name {
			return fmt.Errorf("%s follows %v, want %s", bl.Name, up, cand.Name)
		}
		leaders := 0
		for _, n := range b.Nodes() {
			if r, err := memberRole(b, n.Name); err != nil {
				return err
			} else if r == dcs.RoleStandbyLeader {
				leaders++
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d members publish standby_leader", leaders)
		}
		return nil
	})
	cm, err = aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a commit on the primary cluster reaches every standby-cluster member", func() error {
		for _, n := range b.Nodes() {
			if !n.Server.Has(cm) {
				return fmt.Errorf("%s lacks %v", n.Name, cm)
			}
		}
		return nil
	})
	snap, err = b.Store().Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f := dcs.Parse(snap).Failover; !f.IsZero() {
		t.Errorf("failover key left behind: %+v", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(primaryEvents) > 0 {
		t.Errorf("the standby cluster promoted, demoted or fenced a member: %+v", primaryEvents)
	}
	for _, n := range b.Nodes() {
		if slices.Contains(roles[n.Name], dcs.RolePrimary) || slices.Contains(roles[n.Name], dcs.RoleMaster) {
			t.Errorf("%s ran as primary: on_role_change %v", n.Name, roles[n.Name])
		}
		if tl, want := n.Server.Timeline(), aLeader.Server.Timeline(); tl != want {
			t.Errorf("%s on timeline %d, want the remote's %d: promoted", n.Name, tl, want)
		}
	}
	if !slices.Contains(roles[cand.Name], dcs.RoleStandbyLeader) || !slices.Contains(roles[bl.Name], dcs.RoleReplica) {
		t.Errorf("on_role_change %v: want standby_leader on %s and replica on %s", roles, cand.Name, bl.Name)
	}
}

// TestStandbyClusterManualFailoverAndSwitchoverToBest: a manual failover
// (POST /failover: the failover key names only the candidate) and a
// switchover without a candidate (the best member but the standby leader)
// inside the standby cluster each move the standby leader role, with the
// former standby leader following the new one and nobody promoted.
func TestStandbyClusterManualFailoverAndSwitchoverToBest(t *testing.T) {
	_, b, aLeader := standbyPair(t, nil)
	remote := aLeader.Server.Addr()
	settled := func(old *failovertest.Node) *failovertest.Node {
		t.Helper()
		var nl *failovertest.Node
		eventually(t, settleTimeout, "a new standby leader following the remote, the old one its replica", func() error {
			nl = b.Leader()
			if nl == nil || nl == old {
				return fmt.Errorf("leader %v", nl)
			}
			if st := nl.Controller.State(); st.Role != dcs.RoleStandbyLeader || nl.Server.Role() != pg.RoleReplica {
				return fmt.Errorf("%s: role %s, server %s", nl.Name, st.Role, nl.Server.Role())
			}
			if up := nl.Server.FollowConfig().Upstream; up.Host != remote.Host || up.Port != remote.Port {
				return fmt.Errorf("%s follows %v", nl.Name, up)
			}
			if st := old.Controller.State(); st.Role != dcs.RoleReplica || old.Server.Role() != pg.RoleReplica {
				return fmt.Errorf("%s: role %s, server %s", old.Name, st.Role, old.Server.Role())
			}
			if up := old.Server.FollowConfig().Upstream; up.Host != nl.Name {
				return fmt.Errorf("%s follows %v, want %s", old.Name, up, nl.Name)
			}
			return nil
		})
		return nl
	}
	bl, err := b.WaitLeader(settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var cand *failovertest.Node
	for _, n := range b.Nodes() {
		if n != bl {
			cand = n
			break
		}
	}
	eventually(t, settleTimeout, "the candidate runs as a replica", func() error {
		if st := cand.Controller.State(); st.Role != dcs.RoleReplica || st.PGState != dcs.StateRunning {
			return fmt.Errorf("%s: role %s, state %s", cand.Name, st.Role, st.PGState)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*settleTimeout)
	defer cancel()
	if _, err := bl.Controller.Failover(ctx, healthapi.FailoverRequest{Candidate: cand.Name}); err != nil {
		t.Fatalf("manual failover to %s: %v", cand.Name, err)
	}
	if nl := settled(bl); nl != cand {
		t.Fatalf("standby leader %s after a manual failover to %s", nl.Name, cand.Name)
	}
	eventually(t, settleTimeout, "every member runs again", func() error {
		for _, n := range b.Nodes() {
			if st := n.Controller.State(); st.PGState != dcs.StateRunning {
				return fmt.Errorf("%s: state %s", n.Name, st.PGState)
			}
		}
		return nil
	})
	if _, err := cand.Controller.Switchover(ctx, healthapi.SwitchoverRequest{Leader: cand.Name}); err != nil {
		t.Fatalf("switchover away from %s: %v", cand.Name, err)
	}
	settled(cand)
	cm, err := aLeader.Commit(100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a commit on the primary cluster reaches every standby-cluster member", func() error {
		for _, n := range b.Nodes() {
			if !n.Server.Has(cm) {
				return fmt.Errorf("%s lacks %v", n.Name, cm)
			}
			if tl, want := n.Server.Timeline(), aLeader.Server.Timeline(); tl != want {
				return fmt.Errorf("%s on timeline %d, want %d", n.Name, tl, want)
			}
		}
		return nil
	})
}
