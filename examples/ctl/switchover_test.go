package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// cluster3 seeds the Patroni cluster with real healthapi servers for the
// leader and postgresql1; postgresql2's API is down.
func cluster3(t *testing.T) (*App, dcs.Store, *fakeManager, *fakeManager) {
	t.Helper()
	store := newMemoryStore(t)
	api0, mgr0 := startAPI(t, "postgresql0", dcs.RolePrimary)
	api1, mgr1 := startAPI(t, "postgresql1", dcs.RoleReplica)
	seed(t, store, [3]string{api0, api1, deadAddress(t)})
	app, _, _ := testApp(store)
	return app, store, mgr0, mgr1
}

func TestSwitchoverThroughAPI(t *testing.T) {
	ctx := context.Background()
	app, store, mgr0, mgr1 := cluster3(t)
	out := app.Out.(interface{ String() string })
	if err := app.Run(ctx, []string{"switchover", "--candidate", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if len(mgr0.switches) != 1 || mgr0.switches[0].Leader != "postgresql0" || mgr0.switches[0].Candidate != "postgresql1" ||
		mgr0.switches[0].ScheduledAt != nil || len(mgr1.Calls()) != 0 {
		t.Fatalf("leader got %+v, candidate got %v", mgr0.switches, mgr1.Calls())
	}
	if !strings.HasPrefix(out.String(), "Current cluster topology\n+ Cluster: batman") ||
		!strings.Contains(out.String(), "\n2024-01-14 10:00:00.00000 "+`Successfully switched over to "postgresql1"`+"\n+ Cluster: batman") {
		t.Errorf("output %s", out)
	}
	if got, _ := getKey(t, store, "failover"); got != "" {
		t.Errorf("failover key written: %s", got)
	}

	// Scheduled: 202 from the API.
	app.JSON = true
	if err := app.Run(ctx, []string{"switchover", "--scheduled", "2030-01-02T03:04:05+00:00", "--force"}); err != nil {
		t.Fatal(err)
	}
	if len(mgr0.switches) != 2 || mgr0.switches[1].ScheduledAt == nil ||
		!mgr0.switches[1].ScheduledAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) || mgr0.switches[1].Candidate != "" {
		t.Fatalf("scheduled %+v", mgr0.switches)
	}

	if err := app.Run(ctx, []string{"failover", "--candidate", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if len(mgr0.fails) != 1 || mgr0.fails[0].Candidate != "postgresql1" || mgr0.fails[0].AllowDataLoss {
		t.Fatalf("failover %+v", mgr0.fails)
	}
	if err := app.Run(ctx, []string{"failover", "--candidate", "postgresql1", "--allow-data-loss", "--force"}); err != nil {
		t.Fatal(err)
	}
	if len(mgr0.fails) != 2 || !mgr0.fails[1].AllowDataLoss {
		t.Fatalf("failover --allow-data-loss %+v", mgr0.fails)
	}
}

// Wrong credentials: the API refuses with 401 and the CLI reports it,
// without falling back to the DCS.
func TestSwitchoverRefused(t *testing.T) {
	app, store, mgr0, _ := cluster3(t)
	app.Auth.Password = "wrong"
	err := app.Run(context.Background(), []string{"switchover", "--force"})
	if err == nil || !strings.Contains(err.Error(), "Switchover failed, details: 401") {
		t.Fatalf("err %v", err)
	}
	if len(mgr0.Calls()) != 0 {
		t.Fatalf("calls %v", mgr0.Calls())
	}
	if got, _ := getKey(t, store, "failover"); got != "" {
		t.Errorf("failover key written: %s", got)
	}
}

// The leader's API is unreachable: the request goes to the failover key,
// as patronictl does.
func TestSwitchoverFallsBackToDCS(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{deadAddress(t), deadAddress(t), deadAddress(t)})
	app, _, errOut := testApp(store)
	app.JSON = true
	if err := app.Run(ctx, []string{"switchover", "--candidate", "postgresql1", "--scheduled", "2030-01-02T03:04:05+00:00", "--force"}); err != nil {
		t.Fatal(err)
	}
	got, _ := getKey(t, store, "failover")
	if got != `{"leader":"postgresql0","member":"postgresql1","scheduled_at":"2030-01-02T03:04:05+00:00"}` {
		t.Fatalf("failover key %s", got)
	}
	if !strings.Contains(errOut.String(), "falling back to the DCS") {
		t.Errorf("stderr %s", errOut)
	}
	var res actionResult
	if err := json.Unmarshal(app.Out.(interface{ Bytes() []byte }).Bytes(), &res); err != nil || res.Via != "dcs" || !res.Success {
		t.Fatalf("json %+v %v", res, err)
	}

	// Failover without a leader goes to the candidate, and here falls
	// back too.
	if err := store.Delete(ctx, "leader", dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Run(ctx, []string{"failover", "--candidate", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "failover"); got != `{"member":"postgresql1"}` {
		t.Fatalf("failover key %s", got)
	}
	if err := app.Run(ctx, []string{"failover", "--candidate", "postgresql1", "--allow-data-loss", "--force"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "failover"); got != `{"member":"postgresql1","allow_data_loss":true}` {
		t.Fatalf("failover key %s", got)
	}
}

func TestSwitchoverChecks(t *testing.T) {
	ctx := context.Background()
	app, _, mgr0, _ := cluster3(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"switchover", "--leader", "postgresql1", "--force"}, "is not the leader"},
		{[]string{"switchover", "--candidate", "nobody", "--force"}, "does not exist"},
		{[]string{"switchover", "--candidate", "postgresql0", "--force"}, "already the leader"},
		{[]string{"switchover", "--candidate", "postgresql2", "--force"}, "nofailover"},
		{[]string{"switchover", "--scheduled", "2020-01-01T00:00:00+00:00", "--force"}, "in the past"},
		{[]string{"switchover", "--scheduled", "2030-01-01 10:00", "--force"}, "time zone"},
		{[]string{"failover", "--force"}, "needs --candidate"},
		{[]string{"switchover", "--bogus"}, "unknown flag: --bogus"},
	} {
		err := app.Run(ctx, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
	// Without --force, the leader, candidate and time are asked for (an
	// empty answer takes the default); declining the confirmation sends
	// nothing.
	out := app.Out.(*bytes.Buffer)
	out.Reset()
	app.In = strings.NewReader("\n\n\nno\n")
	if err := app.Run(ctx, []string{"switchover"}); !errors.Is(err, ErrAborted) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"Primary [postgresql0]: ", "Candidate ['postgresql1'] []: ",
		"When should the switchover take place (e.g. 2024-01-14T11:00 )  [now]: ",
		"Are you sure you want to switchover cluster batman, demoting current leader postgresql0? [y/N]: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// failover asks for the candidate.
	app.In = strings.NewReader("\n")
	if err := app.Run(ctx, []string{"failover"}); err == nil || !strings.Contains(err.Error(), "only to a specific candidate") {
		t.Fatalf("err %v", err)
	}
	if len(mgr0.Calls()) != 0 {
		t.Fatalf("calls %v", mgr0.Calls())
	}
}

func TestRestartReload(t *testing.T) {
	ctx := context.Background()
	app, _, mgr0, mgr1 := cluster3(t)
	out := app.Out.(interface {
		String() string
		Reset()
	})
	if err := app.Run(ctx, []string{"restart", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if got := mgr1.Calls(); len(got) != 1 || got[0] != "restart" || len(mgr0.Calls()) != 0 {
		t.Fatalf("calls %v %v", mgr0.Calls(), got)
	}
	if actionLines(out.String()) != "Success: restart on member postgresql1\n" {
		t.Errorf("output %q", out.String())
	}
	out.Reset()
	if err := app.Run(ctx, []string{"restart", "--role", "leader", "--scheduled", "2030-01-01T00:00:00Z", "--force"}); err != nil {
		t.Fatal(err)
	}
	if actionLines(out.String()) != "Success: restart scheduled on member postgresql0\n" {
		t.Errorf("output %q", out.String())
	}
	out.Reset()
	if err := app.Run(ctx, []string{"reload", "postgresql0", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if actionLines(out.String()) != "Reload request received for member postgresql0 and will be processed within 10 seconds\n"+
		"Reload request received for member postgresql1 and will be processed within 10 seconds\n" {
		t.Errorf("output %q", out.String())
	}
	// postgresql2's API is down: reported per member, and the command
	// fails.
	out.Reset()
	app.JSON = true
	err := app.Run(ctx, []string{"reload", "--force"})
	if err == nil || !strings.Contains(err.Error(), "reload failed on 1 of 3 members") {
		t.Fatalf("err %v", err)
	}
	var res []actionResult
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil || len(res) != 3 || !res[0].Success || res[2].Success ||
		!strings.Contains(res[2].Message, "REST API unreachable") {
		t.Fatalf("json %+v %v", res, err)
	}
	// Filters travel in the body and are judged by the member: its
	// PostgreSQL 15 is older than 16.1, but it has no pending restart.
	app.JSON = false
	out.Reset()
	if err := app.Run(ctx, []string{"restart", "postgresql1", "--pg-version", "16.1", "--timeout", "30s", "--force"}); err != nil {
		t.Fatalf("err %v: %s", err, out.String())
	}
	out.Reset()
	// --pending without --scheduled: the members without a pending
	// restart are left out here, as patronictl does.
	before := len(mgr1.Calls())
	err = app.Run(ctx, []string{"restart", "batman", "postgresql1", "--pending", "--force"})
	if err != nil || actionLines(out.String()) != "No member has a pending restart\n" || len(mgr1.Calls()) != before {
		t.Fatalf("err %v, output %q, calls %v", err, out.String(), mgr1.Calls())
	}
	if err := app.Run(ctx, []string{"restart", "nobody", "--force"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err %v", err)
	}
	// postgresql2's pending change raises max_connections, which every
	// member must share: the replicas restart before the leader.
	out.Reset()
	_ = app.Run(ctx, []string{"restart", "--force"})
	lines := strings.Split(strings.TrimSpace(actionLines(out.String())), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "postgresql1") || !strings.Contains(lines[1], "postgresql2") ||
		!strings.Contains(lines[2], "postgresql0") {
		t.Fatalf("restart order:\n%s", out.String())
	}
}

// TestSwitchoverStandbyClusterIgnoresSyncMode: synchronous mode is off in
// a standby cluster whatever the config key says (Patroni's rule), so a
// switchover there is not refused for a candidate missing from the sync
// key.
func TestSwitchoverStandbyClusterIgnoresSyncMode(t *testing.T) {
	ctx := context.Background()
	app, store, mgr0, _ := cluster3(t)
	cfg := `{"ttl":30,"loop_wait":10,"synchronous_mode":true,"standby_cluster":{"host":"10.0.0.9","port":5432}}`
	if _, err := store.Put(ctx, "config", []byte(cfg), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "sync", []byte(`{"leader":"postgresql0","sync_standby":null}`), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Run(ctx, []string{"switchover", "--candidate", "postgresql1", "--force"}); err != nil {
		t.Fatal(err)
	}
	if len(mgr0.switches) != 1 || mgr0.switches[0].Candidate != "postgresql1" {
		t.Fatalf("leader got %+v", mgr0.switches)
	}
	// Without standby_cluster the same request is refused client-side.
	if _, err := store.Put(ctx, "config", []byte(`{"ttl":30,"loop_wait":10,"synchronous_mode":true}`), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := app.Run(ctx, []string{"switchover", "--candidate", "postgresql1", "--force"}); err == nil || !strings.Contains(err.Error(), "synchronous standby") {
		t.Fatalf("primary cluster in synchronous mode: err %v, want a refusal", err)
	}
}
