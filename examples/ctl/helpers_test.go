package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
)

// Values exactly as Patroni 3.0 writes them for a three-node cluster
// "batman": postgresql0 leads on timeline 2, postgresql1 streams, and
// postgresql2 lags 9.3 MB, is tagged nofailover and has a pending restart.
// {api0}, {api1}, {api2} are replaced by the members' API addresses.
var patroniKeys = map[string]string{
	"initialize": `7268616322854375442`,
	"config":     `{"ttl":30,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":1048576,"postgresql":{"use_pg_rewind":true,"parameters":{"max_connections":100}}}`,
	"leader":     `postgresql0`,
	"members/postgresql0": `{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://{api0}/patroni","state":"running",` +
		`"role":"primary","version":"3.0.2","xlog_location":67419744,"timeline":2}`,
	"members/postgresql1": `{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://{api1}/patroni","state":"running",` +
		`"role":"replica","version":"3.0.2","xlog_location":67108864,"receive_lsn":67108864,"replay_lsn":67108864,` +
		`"replication_state":"streaming","timeline":2}`,
	"members/postgresql2": `{"conn_url":"postgres://127.0.0.1:5434/postgres","api_url":"http://{api2}/patroni","state":"running",` +
		`"role":"replica","version":"3.0.2","xlog_location":57671680,"receive_lsn":57671680,"replay_lsn":57671000,` +
		`"replication_state":"streaming","timeline":2,"tags":{"nofailover":true},"pending_restart":true,` +
		`"pending_restart_reason":{"max_connections":{"old_value":"100","new_value":"200"}}}`,
	"status":  `{"optime":67419744,"slots":{"postgresql1":67108864,"postgresql2":57671680},"retain_slots":["postgresql0","postgresql1","postgresql2"]}`,
	"history": `[[1,25165984,"no recovery target specified","2024-01-14T10:09:57.123456+00:00","postgresql0"]]`,
}

// seed writes the Patroni keys with the given API addresses.
func seed(t *testing.T, s dcs.Store, apis [3]string) {
	t.Helper()
	for k, v := range patroniKeys {
		for i, a := range apis {
			v = strings.ReplaceAll(v, "{api"+string(rune('0'+i))+"}", a)
		}
		if _, err := s.Put(context.Background(), k, []byte(v), 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
}

func newMemoryStore(t *testing.T) *memory.Store {
	t.Helper()
	c := memory.NewCluster(memory.ClusterOptions{})
	t.Cleanup(func() { c.Close() })
	return c.Store(dcs.Prefix("", "batman"), memory.StoreOptions{})
}

// testApp returns an App on store with captured output.
func testApp(store dcs.Store) (*App, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &App{
		Store: store, Scope: "batman", HTTP: &http.Client{Timeout: 10 * time.Second},
		Auth: agentconfig.Credentials{Username: "admin", Password: "secret"},
		Out:  &out, Err: &errOut, WaitInterval: 10 * time.Millisecond,
		Now: func() time.Time { return time.Date(2024, 1, 14, 10, 0, 0, 0, time.UTC) },
	}, &out, &errOut
}

// fakeManager records management calls, answering like an agent would.
type fakeManager struct {
	mu       sync.Mutex
	calls    []string
	switches []healthapi.SwitchoverRequest
	fails    []healthapi.FailoverRequest
	// restartErr, cancelErr and reinitErr, when set, are what Restart,
	// CancelRestart/CancelSwitchover and Reinitialize answer.
	restartErr, cancelErr, reinitErr error
}

func (m *fakeManager) set(f func(m *fakeManager)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *fakeManager) record(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, s)
}

func (m *fakeManager) Switchover(_ context.Context, req healthapi.SwitchoverRequest) (healthapi.Result, error) {
	m.mu.Lock()
	m.switches = append(m.switches, req)
	m.mu.Unlock()
	m.record("switchover")
	if req.ScheduledAt != nil {
		return healthapi.Result{Scheduled: true, Message: "Switchover scheduled"}, nil
	}
	return healthapi.Result{Message: `Successfully switched over to "` + req.Candidate + `"`}, nil
}

func (m *fakeManager) Failover(_ context.Context, req healthapi.FailoverRequest) (healthapi.Result, error) {
	m.mu.Lock()
	m.fails = append(m.fails, req)
	m.mu.Unlock()
	m.record("failover")
	return healthapi.Result{Message: `Successfully failed over to "` + req.Candidate + `"`}, nil
}

func (m *fakeManager) CancelSwitchover(context.Context) error {
	m.record("cancel-switchover")
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancelErr
}

func (m *fakeManager) Restart(_ context.Context, req healthapi.RestartRequest) (healthapi.Result, error) {
	m.record("restart")
	m.mu.Lock()
	err := m.restartErr
	m.mu.Unlock()
	if err != nil {
		return healthapi.Result{}, err
	}
	if req.Schedule != nil {
		return healthapi.Result{Scheduled: true, Message: "Restart scheduled"}, nil
	}
	return healthapi.Result{Message: "restarted successfully"}, nil
}

func (m *fakeManager) CancelRestart(context.Context) error {
	m.record("cancel-restart")
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancelErr
}
func (m *fakeManager) Reload(context.Context) error { m.record("reload"); return nil }
func (m *fakeManager) Reinitialize(_ context.Context, req healthapi.ReinitializeRequest) error {
	m.record(fmt.Sprintf("reinitialize force=%v from_leader=%v", req.Force, req.FromLeader))
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reinitErr
}
func (m *fakeManager) ReadConfig(context.Context) (healthapi.ConfigValue, error) {
	return healthapi.ConfigValue{}, dcs.ErrNotFound
}
func (m *fakeManager) WriteConfig(context.Context, []byte, int64) error { return nil }

func (m *fakeManager) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

// startAPI serves the real healthapi handler for one member, backed by a
// fake manager. It returns the host:port and the manager.
func startAPI(t *testing.T, name string, role string) (string, *fakeManager) {
	t.Helper()
	var cache healthapi.StateCache
	cache.Store(&healthapi.NodeState{Name: name, Scope: "batman", Role: role, PGState: dcs.StateRunning,
		IsLeader: role == dcs.RolePrimary, Timeline: 2, ServerVersion: 150004})
	mgr := &fakeManager{}
	h, err := healthapi.New(healthapi.Options{Source: &cache, Manager: mgr, Version: "4.0.4",
		Auth: healthapi.Auth{Username: "admin", Password: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), mgr
}

// deadAddress returns a loopback address where nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func getKey(t *testing.T, s dcs.Store, key string) (string, int64) {
	t.Helper()
	snap, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range snap.KVs {
		if kv.Key == key {
			return string(kv.Value), kv.ModRevision
		}
	}
	return "", 0
}

func dcsCond() dcs.Cond { return dcs.Cond{} }

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testutil.EventuallyEvery(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	}, "condition")
}
