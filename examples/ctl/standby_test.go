package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
)

// storeConfigManager is a fakeManager whose config endpoints read and
// write the store, as an agent's do.
type storeConfigManager struct {
	*fakeManager
	store dcs.Store
}

func (m storeConfigManager) ReadConfig(ctx context.Context) (healthapi.ConfigValue, error) {
	snap, err := m.store.Get(ctx)
	if err != nil {
		return healthapi.ConfigValue{}, err
	}
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyConfig {
			return healthapi.ConfigValue{Data: kv.Value, ModRevision: kv.ModRevision}, nil
		}
	}
	return healthapi.ConfigValue{}, dcs.ErrNotFound
}

func (m storeConfigManager) WriteConfig(ctx context.Context, data []byte, rev int64) error {
	m.record("write-config")
	cond := dcs.Cond{}
	if rev > 0 {
		cond = dcs.Cond{ModRevision: rev}
	}
	_, err := m.store.Put(ctx, dcs.KeyConfig, data, 0, cond)
	return err
}

// agentReacts plays the leader's agent: once the config key says what
// the command asked for, it publishes the new role in its member key.
func agentReacts(t *testing.T, store dcs.Store, standby bool) {
	t.Helper()
	go func() {
		ctx := context.Background()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range 2000 {
			cfg, _ := getKey(t, store, "config")
			if strings.Contains(cfg, `"standby_cluster"`) == standby {
				m, _ := getKey(t, store, "members/postgresql0")
				role := map[bool]string{true: `"role":"standby_leader"`, false: `"role":"primary"`}[standby]
				m = strings.Replace(strings.Replace(m, `"role":"primary"`, role, 1), `"role":"standby_leader"`, role, 1)
				store.Put(ctx, "members/postgresql0", []byte(m), 0, dcs.Cond{})
				return
			}
			<-tick.C
		}
	}()
}

// TestDemotePromoteCluster: demote-cluster writes the standby_cluster
// section (through the DCS when the leader's REST API is down) and waits
// for the standby_leader role; promote-cluster removes it through PATCH
// /config on the leader and waits for the primary role; both refuse the
// wrong starting state and bad flags.
func TestDemotePromoteCluster(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{deadAddress(t), "b:1", "c:1"})
	app, out, errOut := testApp(store)

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"demote-cluster", "--force"}, "needs --host or --restore-command"},
		{[]string{"demote-cluster", "--host", "h", "--port", "70000", "--force"}, "standby_cluster.port"},
		{[]string{"demote-cluster", "--host", "h", "--primary-slot-name", "Bad", "--force"}, "primary_slot_name"},
		{[]string{"promote-cluster", "--force"}, "not a standby cluster"},
		{[]string{"demote-cluster", "--host", "h"}, "no answer (use --force)"},
	} {
		if err := app.Run(ctx, tt.args); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.err)
		}
	}
	if got, _ := getKey(t, store, "config"); strings.Contains(got, "standby_cluster") {
		t.Fatalf("a refused command wrote %s", got)
	}

	agentReacts(t, store, true)
	if err := app.Run(ctx, []string{"demote-cluster", "--host", "10.0.0.9", "--port", "5433", "--primary-slot-name", "dr", "--force"}); err != nil {
		t.Fatalf("demote-cluster: %v (stderr %s)", err, errOut)
	}
	got, _ := getKey(t, store, "config")
	if !strings.Contains(got, `"standby_cluster":{"host":"10.0.0.9","port":5433,"primary_slot_name":"dr"}`) && !strings.Contains(got, `"standby_cluster":{"host":"10.0.0.9","primary_slot_name":"dr","port":5433}`) ||
		!strings.Contains(got, `"maximum_lag_on_failover":1048576`) {
		t.Fatalf("config %s", got)
	}
	if !strings.Contains(errOut.String(), "writing the config key directly") || !strings.Contains(out.String(), "postgresql0 is now standby_leader") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	if err := app.Run(ctx, []string{"demote-cluster", "--host", "x", "--force"}); err == nil || !strings.Contains(err.Error(), "already a standby cluster") {
		t.Errorf("second demote: %v", err)
	}

	// promote-cluster through the leader's REST API.
	store2 := newMemoryStore(t)
	api, fm := startConfigAPI(t, store2)
	seed(t, store2, [3]string{api, "b:1", "c:1"})
	cfg, _ := getKey(t, store2, "config")
	cfg = strings.TrimSuffix(cfg, "}") + `,"standby_cluster":{"host":"10.0.0.9"}}`
	store2.Put(ctx, "config", []byte(cfg), 0, dcs.Cond{})
	standbyLeader := `{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://` + api + `/patroni","state":"running",` +
		`"role":"standby_leader","xlog_location":67108864,"receive_lsn":67108864,"replay_lsn":67108864,"timeline":2}`
	store2.Put(ctx, "members/postgresql0", []byte(standbyLeader), 0, dcs.Cond{})
	agentReacts(t, store2, false)
	app2, out2, errOut2 := testApp(store2)
	if err := app2.Run(ctx, []string{"promote-cluster", "--wait-lsn", "0/3FFFFFF", "--force"}); err != nil {
		t.Fatalf("promote-cluster: %v", err)
	}
	if got, _ := getKey(t, store2, "config"); strings.Contains(got, "standby_cluster") {
		t.Fatalf("config after promote %s", got)
	}
	if !slices.Contains(fm.Calls(), "write-config") || strings.Contains(errOut2.String(), "directly") || !strings.Contains(out2.String(), "is now primary") {
		t.Errorf("calls %v stdout %q stderr %q", fm.Calls(), out2, errOut2)
	}
	// --wait-lsn beyond what the standby leader replayed: nothing is written.
	store2.Put(ctx, "config", []byte(cfg), 0, dcs.Cond{})
	store2.Put(ctx, "members/postgresql0", []byte(standbyLeader), 0, dcs.Cond{})
	if err := app2.Run(ctx, []string{"promote-cluster", "--wait-lsn", "1/0", "--timeout", "50ms", "--force"}); err == nil ||
		!errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not promoting") {
		t.Fatalf("promote-cluster --wait-lsn: %v", err)
	}
	if got, _ := getKey(t, store2, "config"); !strings.Contains(got, "standby_cluster") {
		t.Fatalf("config written despite --wait-lsn: %s", got)
	}
}

// startConfigAPI serves the healthapi handler of a standby leader whose
// config endpoints use store.
func startConfigAPI(t *testing.T, store dcs.Store) (string, storeConfigManager) {
	t.Helper()
	var cache healthapi.StateCache
	cache.Store(&healthapi.NodeState{Name: "postgresql0", Scope: "batman", Role: dcs.RoleStandbyLeader, PGState: dcs.StateRunning,
		IsLeader: true, StandbyCluster: true, Timeline: 2, ServerVersion: 150004})
	mgr := storeConfigManager{fakeManager: &fakeManager{}, store: store}
	h, err := healthapi.New(healthapi.Options{Source: &cache, Manager: mgr, Version: "4.0.4",
		Auth: healthapi.Auth{Username: "admin", Password: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), mgr
}
