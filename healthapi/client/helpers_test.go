package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
)

// quiet drops the handlers' logs.
var quiet = slog.New(slog.DiscardHandler)

// manager is a healthapi.Manager (and FailsafeManager) that records what it
// was asked, in a form tests compare.
type manager struct {
	mu     sync.Mutex
	calls  []string
	config []byte
	rev    int64
	err    error
}

func (m *manager) record(format string, args ...any) {
	m.mu.Lock()
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *manager) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) == 0 {
		return ""
	}
	return m.calls[len(m.calls)-1]
}

func stamp(t *time.Time) string {
	if t == nil {
		return "now"
	}
	return t.UTC().Format(time.RFC3339)
}

func (m *manager) Switchover(_ context.Context, req healthapi.SwitchoverRequest) (healthapi.Result, error) {
	m.record("switchover %s->%s at %s", req.Leader, req.Candidate, stamp(req.ScheduledAt))
	if m.err != nil {
		return healthapi.Result{}, m.err
	}
	if req.ScheduledAt != nil {
		return healthapi.Result{Scheduled: true, Message: "Switchover scheduled"}, nil
	}
	return healthapi.Result{Message: fmt.Sprintf("Successfully switched over to %q", req.Candidate)}, nil
}

func (m *manager) Failover(_ context.Context, req healthapi.FailoverRequest) (healthapi.Result, error) {
	m.record("failover ->%s loss=%v", req.Candidate, req.AllowDataLoss)
	if m.err != nil {
		return healthapi.Result{}, m.err
	}
	return healthapi.Result{Message: fmt.Sprintf("Successfully failed over to %q", req.Candidate)}, nil
}

func (m *manager) CancelSwitchover(context.Context) error {
	m.record("cancel switchover")
	return healthapi.ErrNotFound
}

func (m *manager) Restart(_ context.Context, req healthapi.RestartRequest) (healthapi.Result, error) {
	m.record("restart at %s role=%q version=%d timeout=%s pending=%v", stamp(req.Schedule), req.Role, req.PostgresVersion, req.Timeout, req.RestartPending)
	if req.Schedule != nil {
		return healthapi.Result{Scheduled: true, Message: "Restart scheduled"}, nil
	}
	return healthapi.Result{Message: "restarted successfully"}, nil
}

func (m *manager) CancelRestart(context.Context) error {
	m.record("cancel restart")
	return nil
}

func (m *manager) Reload(context.Context) error {
	m.record("reload")
	return nil
}

func (m *manager) Reinitialize(_ context.Context, req healthapi.ReinitializeRequest) error {
	m.record("reinitialize force=%v from_leader=%v", req.Force, req.FromLeader)
	return nil
}

func (m *manager) ReadConfig(context.Context) (healthapi.ConfigValue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return healthapi.ConfigValue{Data: m.config, ModRevision: m.rev}, nil
}

func (m *manager) WriteConfig(_ context.Context, data []byte, rev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev != 0 && rev != m.rev {
		return dcs.ErrConflict
	}
	m.config, m.rev = data, m.rev+1
	return nil
}

func (m *manager) AcceptFailsafe(_ context.Context, req healthapi.FailsafeRequest) (int64, error) {
	m.record("failsafe from %s", req.Name)
	return 42, nil
}

// member is one node's REST API on an httptest server.
type member struct {
	srv   *httptest.Server
	state *healthapi.StateCache
	mgr   *manager
}

// apiURL is the member's api_url as published in its member key.
func (m *member) apiURL() string { return m.srv.URL + "/patroni" }

func newMember(t *testing.T, auth healthapi.Auth) *member {
	t.Helper()
	m := &member{state: &healthapi.StateCache{}, mgr: &manager{config: []byte(`{"ttl":30,"loop_wait":10}`), rev: 7}}
	h, err := healthapi.New(healthapi.Options{Source: m.state, Manager: m.mgr, Auth: auth, AllowUnauthenticated: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m.srv = httptest.NewServer(h)
	t.Cleanup(m.srv.Close)
	return m
}

// clusterState returns a snapshot of a three-member cluster led by n1, with
// failsafe mode on.
func clusterState(t *testing.T) *dcs.Cluster {
	t.Helper()
	cfg, err := dcs.DecodeConfig([]byte(`{"ttl":30,"loop_wait":10,"failsafe_mode":true}`))
	if err != nil {
		t.Fatal(err)
	}
	c := &dcs.Cluster{Config: cfg, Leader: &dcs.Leader{Name: "n1"}, Status: &dcs.Status{Optime: 5 << 20},
		Failsafe: dcs.Failsafe{"n1": "http://10.0.0.1:8008/patroni", "n2": "http://10.0.0.2:8008/patroni"},
		History:  dcs.History{{Timeline: 1, LSN: 1 << 24, Reason: "no recovery target specified", Timestamp: "2024-01-14T10:09:57+00:00", NewLeader: "n1"}}}
	for i, lsn := range []int64{5 << 20, 4 << 20, 0} {
		name := fmt.Sprintf("n%d", i+1)
		raw, _ := json.Marshal(map[string]any{"conn_url": fmt.Sprintf("postgres://10.0.0.%d:5432/postgres", i+1),
			"api_url": fmt.Sprintf("http://10.0.0.%d:8008/patroni", i+1), "state": "running", "role": "replica", "xlog_location": lsn})
		mem, err := dcs.DecodeMember(name, raw)
		if err != nil {
			t.Fatal(err)
		}
		c.Members = append(c.Members, mem)
	}
	return c
}
