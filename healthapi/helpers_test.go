package healthapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func i64(v int64) *int64 { return &v }
func bptr(v bool) *bool  { return &v }
func sptr(v string) *string {
	return &v
}

// cluster returns a cached snapshot: leader "n1", replicas "n2" and "n3",
// status optime 100 MiB, sync mode from sync.
func cluster(sync string) *dcs.Cluster {
	cfg := &dcs.ClusterConfig{ModRevision: 7, TTL: func() *float64 { v := 30.0; return &v }()}
	if sync != "" {
		cfg.SynchronousMode = sptr(sync)
	}
	return &dcs.Cluster{
		Revision: 10,
		Config:   cfg,
		Leader:   &dcs.Leader{Name: "n1", Revision: 5},
		Members: []*dcs.Member{
			{Name: "n1", ConnURL: "postgres://10.0.0.1:5432/postgres", APIURL: "http://10.0.0.1:8008/patroni", State: "running", Role: "primary", XLogLocation: i64(100 << 20), Timeline: i64(2)},
			{Name: "n2", ConnURL: "postgres://10.0.0.2:5433/postgres", APIURL: "http://10.0.0.2:8008/patroni", State: "running", Role: "replica", ReceiveLSN: i64(100 << 20), ReplayLSN: i64(99 << 20), ReplicationState: "streaming", Timeline: i64(2)},
			{Name: "n3", ConnURL: "postgres://10.0.0.3/postgres", APIURL: "http://10.0.0.3:8008/patroni", State: "running", Role: "replica", Timeline: i64(2), Tags: dcs.Tags{"nofailover": true}},
		},
		Sync:    &dcs.SyncState{Leader: "n1", SyncStandby: []string{"n2"}},
		History: dcs.History{{Timeline: 1, LSN: 50331808, Reason: "no recovery target specified", Timestamp: "2025-03-01T11:00:00+00:00", NewLeader: "n1"}},
		Status:  &dcs.Status{Optime: 100 << 20},
	}
}

// primaryState is n1 leading a healthy cluster.
func primaryState() *NodeState {
	return &NodeState{
		Name: "n1", Scope: "batman", Role: dcs.RolePrimary, PGState: dcs.StateRunning,
		ServerVersion: 150004, PostmasterStartTime: t0.Add(-time.Hour), SystemIdentifier: "7000000000000000001",
		Timeline: 2, XLogLocation: 100 << 20, IsLeader: true, Term: 5,
		Replication: []Replication{{Usename: "replicator", ApplicationName: "n2", ClientAddr: "10.0.0.2", State: "streaming", SyncState: "sync", SyncPriority: 1}},
		Cluster:     cluster(""), DCSLastSeen: t0.Add(-time.Second), TTL: 30 * time.Second, NextRun: t0.Add(5 * time.Second),
		FailoversTotal: map[string]uint64{"switchover": 2, "failover": 1}, DCSErrorsTotal: 3,
		LoopDuration: Histogram{Count: 4, Sum: 0.2, Buckets: map[float64]uint64{0.01: 1, 0.1: 4}},
	}
}

// replicaState is n2: streaming, 1 MiB of replay lag.
func replicaState() *NodeState {
	return &NodeState{
		Name: "n2", Scope: "batman", Role: dcs.RoleReplica, PGState: dcs.StateRunning,
		ServerVersion: 150004, PostmasterStartTime: t0.Add(-time.Hour), Timeline: 2,
		ReceivedLSN: 100 << 20, ReplayedLSN: 99 << 20, ReplayedTimestamp: t0.Add(-2 * time.Second),
		ReplicationState: dcs.ReplicationStreaming, LeaderLSN: 100 << 20,
		Tags:    dcs.Tags{"zone": "a", "clonefrom": true},
		Cluster: cluster(""), DCSLastSeen: t0.Add(-time.Second), TTL: 30 * time.Second, NextRun: t0.Add(5 * time.Second),
	}
}

func with(s *NodeState, f func(*NodeState)) *NodeState {
	c := *s
	f(&c)
	return &c
}

// fakeManager records calls and answers from its fields.
type fakeManager struct {
	mu       sync.Mutex
	calls    []string
	result   Result
	err      error
	config   []byte
	rev      int64
	writeErr error
	block    chan struct{} // when set, actions wait on it or ctx
}

func (m *fakeManager) record(c string) {
	m.mu.Lock()
	m.calls = append(m.calls, c)
	m.mu.Unlock()
}

func (m *fakeManager) lastCall() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) == 0 {
		return ""
	}
	return m.calls[len(m.calls)-1]
}

func (m *fakeManager) wait(ctx context.Context) error {
	if m.block == nil {
		return nil
	}
	select {
	case <-m.block:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *fakeManager) Switchover(ctx context.Context, req SwitchoverRequest) (Result, error) {
	s := "switchover " + req.Leader + "->" + req.Candidate
	if req.ScheduledAt != nil {
		s += " at " + req.ScheduledAt.UTC().Format(time.RFC3339)
	}
	m.record(s)
	if err := m.wait(ctx); err != nil {
		return Result{}, err
	}
	return m.result, m.err
}

func (m *fakeManager) Failover(ctx context.Context, req FailoverRequest) (Result, error) {
	if req.AllowDataLoss {
		m.record("failover ->" + req.Candidate + " allowing data loss")
		return m.result, m.err
	}
	m.record("failover ->" + req.Candidate)
	return m.result, m.err
}

func (m *fakeManager) CancelSwitchover(ctx context.Context) error {
	m.record("cancel switchover")
	return m.err
}

func (m *fakeManager) Restart(ctx context.Context, req RestartRequest) (Result, error) {
	m.record("restart")
	return m.result, m.err
}

func (m *fakeManager) CancelRestart(ctx context.Context) error {
	m.record("cancel restart")
	return m.err
}

func (m *fakeManager) Reload(ctx context.Context) error {
	m.record("reload")
	return m.err
}

func (m *fakeManager) Reinitialize(ctx context.Context, req ReinitializeRequest) error {
	m.record("reinitialize")
	return m.err
}

func (m *fakeManager) ReadConfig(ctx context.Context) (ConfigValue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.config == nil {
		return ConfigValue{}, dcs.ErrNotFound
	}
	return ConfigValue{Data: append([]byte(nil), m.config...), ModRevision: m.rev}, nil
}

func (m *fakeManager) WriteConfig(ctx context.Context, data []byte, ifRev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "write config")
	if m.writeErr != nil {
		return m.writeErr
	}
	if ifRev != 0 && ifRev != m.rev {
		return dcs.ErrConflict
	}
	m.config = append([]byte(nil), data...)
	m.rev++
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testHandler builds a handler over cache with basic auth admin/secret.
func testHandler(t testing.TB, cache *StateCache, mgr Manager) *Handler {
	t.Helper()
	h, err := New(Options{
		Source: cache, Manager: mgr,
		Auth:   Auth{Username: "admin", Password: "secret"},
		Clock:  clock.NewFake(t0),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// do runs one request against h and returns the recorder.
func do(h http.Handler, method, target, body string, auth bool) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if auth {
		r.SetBasicAuth("admin", "secret")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
