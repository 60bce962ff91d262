package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/client"
)

var admin = &healthapi.BasicAuth{Username: "admin", Password: "secret"}

func newClient(t *testing.T, m *member, auth *healthapi.BasicAuth) *client.Client {
	t.Helper()
	c, err := client.New(m.apiURL(), client.Options{HTTP: m.srv.Client(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.1:8008", "ftp://h/patroni", "http:///patroni", "http://[::1/patroni", "/patroni"} {
		if _, err := client.New(bad, client.Options{}); !errors.Is(err, healthapi.ErrInvalid) {
			t.Errorf("New(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := client.New("http://h:8008/patroni", client.Options{HTTP: http.DefaultClient, TLS: &tls.Config{MinVersion: tls.VersionTLS12}}); !errors.Is(err, healthapi.ErrInvalid) {
		t.Errorf("New with HTTP and TLS = %v, want ErrInvalid", err)
	}
	for in, want := range map[string][2]string{
		"http://h:8008/patroni":             {"http://h:8008/patroni", "http://h:8008/switchover"},
		"https://u:p@h:8008/patroni?x=1#f":  {"https://h:8008/patroni?x=1", "https://h:8008/switchover"},
		"http://h:8008":                     {"http://h:8008", "http://h:8008/switchover"},
		"http://h:8008/":                    {"http://h:8008/", "http://h:8008/switchover"},
		"http://h/prefix/node1/patroni":     {"http://h/prefix/node1/patroni", "http://h/prefix/node1/switchover"},
		"http://[fe80::1%25eth0]:8008/x/y/": {"http://[fe80::1%25eth0]:8008/x/y/", "http://[fe80::1%25eth0]:8008/x/y/switchover"},
	} {
		c, err := client.New(in, client.Options{})
		if err != nil {
			t.Errorf("New(%q): %v", in, err)
			continue
		}
		if got := [2]string{c.APIURL(), c.URL("switchover")}; got != want {
			t.Errorf("New(%q): APIURL, URL(switchover) = %q, want %q", in, got, want)
		}
	}
}

// TestPatroni decodes the handler's status documents strictly, so that a
// field the handler adds and the client does not know fails here.
func TestPatroni(t *testing.T) {
	m := newMember(t, healthapi.Auth{})
	c := newClient(t, m, nil)
	ctx := context.Background()
	now := time.Now()
	m.state.Store(&healthapi.NodeState{Name: "n1", Scope: "batman", Role: dcs.RolePrimary, PGState: dcs.StateRunning,
		Timeline: 3, XLogLocation: 5 << 20, ServerVersion: 150004, PostmasterStartTime: now, SystemIdentifier: "7",
		Replication:    []healthapi.Replication{{Usename: "replicator", ApplicationName: "n2", State: "streaming", SyncState: "async"}},
		PendingRestart: true, PendingRestartReason: json.RawMessage(`{"max_connections":{"old_value":"100","new_value":"200"}}`),
		DCSLastSeen: now, FailsafeActive: true, Tags: dcs.Tags{"nosync": true}, WatchdogFailed: true, Paused: true,
		ScheduledRestart: json.RawMessage(`{"schedule":"2030-01-01T00:00:00+00:00"}`)})
	s, err := c.Patroni(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Role != "primary" || s.State != "running" || s.Timeline != 3 || s.XLog.Location == nil || *s.XLog.Location != 5<<20 ||
		s.XLog.ReceivedLocation != nil || s.Patroni.Name != "n1" || s.Patroni.Scope != "batman" || !s.FailsafeActive ||
		len(s.Replication) != 1 || s.Replication[0].ApplicationName != "n2" || s.ServerVersion != 150004 {
		t.Errorf("primary status = %+v", s)
	}
	strict(t, m.srv.URL+"/patroni", &client.Status{})

	m.state.Store(&healthapi.NodeState{Name: "n2", Role: dcs.RoleReplica, PGState: dcs.StateRunning, Timeline: 3,
		ReceivedLSN: 4 << 20, ReplayedLSN: 3 << 20, ReplayedTimestamp: now, ReplayPaused: true, ReplicationState: dcs.ReplicationStreaming})
	if s, err = c.Patroni(ctx); err != nil {
		t.Fatal(err)
	}
	if s.XLog.Location != nil || s.XLog.ReceivedLocation == nil || *s.XLog.ReceivedLocation != 4<<20 || *s.XLog.ReplayedLocation != 3<<20 ||
		!s.XLog.Paused || s.XLog.ReplayedTimestamp == nil || s.ReplicationState != "streaming" {
		t.Errorf("replica status = %+v, xlog %+v", s, s.XLog)
	}
	strict(t, m.srv.URL+"/patroni", &client.Status{})

	// PostgreSQL stopped: GET /patroni answers 503 with the document.
	m.state.Store(&healthapi.NodeState{Name: "n2", Role: dcs.RoleReplica, PGState: dcs.StateStopped})
	if s, err = c.Patroni(ctx); err != nil || s.State != "stopped" {
		t.Errorf("stopped: Patroni = %+v, %v", s, err)
	}
}

// strict GETs url and decodes it into v, refusing unknown fields.
func strict(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("GET %s: the client's type lacks a field the handler sends: %v", url, err)
	}
}

func TestDocuments(t *testing.T) {
	m := newMember(t, healthapi.Auth{})
	c := newClient(t, m, nil)
	ctx := context.Background()
	if _, err := c.Config(ctx); !isStatus(err, http.StatusBadGateway) {
		t.Errorf("Config without state = %v, want HTTP 502", err)
	}
	m.state.Store(&healthapi.NodeState{Name: "n1", Scope: "batman", Role: dcs.RolePrimary, PGState: dcs.StateRunning, IsLeader: true, Cluster: clusterState(t)})

	cl, err := c.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Scope != "batman" || len(cl.Members) != 3 || cl.Members[0].Role != "leader" || cl.Members[0].Lag != nil ||
		cl.Members[1].ReceiveLSN != "unknown" || cl.Members[1].LSN != "0/400000" || cl.Members[1].Lag == nil || *cl.Members[1].Lag != 1<<20 ||
		*cl.Members[2].Lag != client.LagUnknown || cl.Members[1].Host != "10.0.0.2" || cl.Members[1].Port != 5432 {
		t.Errorf("Cluster = %+v", cl)
	}
	strict(t, m.srv.URL+"/cluster", &client.Cluster{})
	if b, _ := json.Marshal(cl.Members[2].Lag); string(b) != `"unknown"` {
		t.Errorf("LagUnknown marshals as %s", b)
	}

	h, err := c.History(ctx)
	if err != nil || len(h) != 1 || h[0].NewLeader != "n1" || h[0].LSN != 1<<24 {
		t.Errorf("History = %+v, %v", h, err)
	}
	cfg, err := c.Config(ctx)
	if err != nil || !bytes.Contains(cfg, []byte(`"failsafe_mode":true`)) {
		t.Errorf("Config = %s, %v", cfg, err)
	}
	f, err := c.Failsafe(ctx)
	if err != nil || len(f) != 2 || f["n2"] != "http://10.0.0.2:8008/patroni" {
		t.Errorf("Failsafe = %v, %v", f, err)
	}
	for check, want := range map[string]int{"primary": 200, "replica": 503, "health": 200, "nonsense": 404} {
		if code, err := c.Health(ctx, check, nil); err != nil || code != want {
			t.Errorf("Health(%s) = %d, %v, want %d", check, code, err, want)
		}
	}
	if code, err := c.Health(ctx, "replica", url.Values{"lag": {"1parsec"}}); err != nil || code != 400 {
		t.Errorf("Health(replica?lag=1parsec) = %d, %v, want 400", code, err)
	}
}

func isStatus(err error, code int) bool {
	var he *client.HTTPError
	return errors.As(err, &he) && he.StatusCode == code
}

func TestConfigWrites(t *testing.T) {
	m := newMember(t, healthapi.Auth{Username: "admin", Password: "secret"})
	c := newClient(t, m, admin)
	ctx := context.Background()
	got, err := c.PatchConfig(ctx, map[string]any{"ttl": 20, "loop_wait": nil})
	if err != nil || string(got) != `{"ttl":20}` {
		t.Errorf("PatchConfig = %s, %v", got, err)
	}
	got, err = c.PutConfig(ctx, json.RawMessage(`{"ttl": 40, "loop_wait": 5}`))
	if err != nil || string(got) != `{"ttl":40,"loop_wait":5}` {
		t.Errorf("PutConfig = %s, %v", got, err)
	}
	if _, err := c.PatchConfig(ctx, map[string]any{"ttl": "long"}); !errors.Is(err, healthapi.ErrInvalid) || !strings.Contains(err.Error(), "invalid configuration") {
		t.Errorf("PatchConfig(bad) = %v, want HTTP 400 with the member's message", err)
	}
	if _, err := c.PutConfig(ctx, nil); !errors.Is(err, healthapi.ErrInvalid) {
		t.Errorf("PutConfig(nil) = %v, want ErrInvalid", err)
	}
	// A compare-and-swap that loses answers 409.
	m.mgr.err = nil
	conflict := &conflictManager{m.mgr}
	h, _ := healthapi.New(healthapi.Options{Source: m.state, Manager: conflict, AllowUnauthenticated: true, Logger: quiet})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c2, _ := client.New(srv.URL+"/patroni", client.Options{HTTP: srv.Client()})
	if _, err := c2.PatchConfig(ctx, map[string]any{"ttl": 20}); !errors.Is(err, healthapi.ErrConflict) {
		t.Errorf("PatchConfig racing = %v, want ErrConflict", err)
	}
}

// conflictManager loses every compare-and-swap.
type conflictManager struct{ *manager }

func (conflictManager) WriteConfig(context.Context, []byte, int64) error { return dcs.ErrConflict }

func TestActions(t *testing.T) {
	m := newMember(t, healthapi.Auth{Username: "admin", Password: "secret"})
	c := newClient(t, m, admin)
	ctx := context.Background()
	m.state.Store(&healthapi.NodeState{Name: "n1", Role: dcs.RolePrimary, PGState: dcs.StateRunning, ServerVersion: 150002, Cluster: clusterState(t)})
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name      string
		do        func() (client.Reply, error)
		code      int
		msg, call string
	}{
		{"switchover", func() (client.Reply, error) {
			return c.Switchover(ctx, client.SwitchoverRequest{Leader: "n1", Candidate: "n2"})
		}, 200, `Successfully switched over to "n2"`, "switchover n1->n2 at now"},
		{"scheduled switchover", func() (client.Reply, error) {
			return c.Switchover(ctx, client.SwitchoverRequest{Leader: "n1", ScheduledAt: &at})
		}, 202, "Switchover scheduled", "switchover n1-> at " + at.Format(time.RFC3339)},
		{"failover", func() (client.Reply, error) {
			return c.Failover(ctx, client.FailoverRequest{Candidate: "n3", AllowDataLoss: true})
		}, 200, `Successfully failed over to "n3"`, "failover ->n3 loss=true"},
		{"failover naming the leader", func() (client.Reply, error) {
			return c.Failover(ctx, client.FailoverRequest{Leader: "n1", Candidate: "n3"})
		}, 200, `Successfully switched over to "n3"`, "switchover n1->n3 at now"},
		{"restart", func() (client.Reply, error) {
			return c.Restart(ctx, client.RestartRequest{Role: "primary", PostgresVersion: "15.4", Timeout: 1500 * time.Millisecond})
		}, 200, "restarted successfully", `restart at now role="primary" version=150004 timeout=1.5s pending=false`},
		{"scheduled restart", func() (client.Reply, error) {
			return c.Restart(ctx, client.RestartRequest{Schedule: &at, RestartPending: true})
		}, 202, "Restart scheduled", `restart at ` + at.Format(time.RFC3339) + ` role="" version=0 timeout=0s pending=true`},
		{"cancel restart", func() (client.Reply, error) { return c.CancelRestart(ctx) }, 200, "Deleted scheduled restart", "cancel restart"},
		{"reload", func() (client.Reply, error) { return c.Reload(ctx) }, 202, "reload scheduled", "reload"},
		{"reinitialize", func() (client.Reply, error) {
			return c.Reinitialize(ctx, client.ReinitializeRequest{Force: true})
		}, 200, "reinitialize started", "reinitialize force=true from_leader=false"},
	} {
		r, err := tc.do()
		if err != nil || r.StatusCode != tc.code || r.Message != tc.msg || r.Scheduled() != (tc.code == 202) {
			t.Errorf("%s = %+v, %v, want %d %q", tc.name, r, err, tc.code, tc.msg)
		}
		if got := m.mgr.last(); got != tc.call {
			t.Errorf("%s: the member was asked %q, want %q", tc.name, got, tc.call)
		}
	}

	// Refusals are *HTTPErrors with the member's message.
	_, err := c.Restart(ctx, client.RestartRequest{Role: "replica"})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 503 || he.Message != "restart conditions are not satisfied" || he.Method != "POST" || !strings.HasSuffix(he.URL, "/restart") {
		t.Errorf("Restart(replica) = %v, want HTTP 503 with the member's message", err)
	}
	if _, err := c.CancelSwitchover(ctx); !errors.Is(err, healthapi.ErrNotFound) {
		t.Errorf("CancelSwitchover = %v, want ErrNotFound", err)
	}
	if _, err := c.Failover(ctx, client.FailoverRequest{}); !errors.Is(err, healthapi.ErrInvalid) || !strings.Contains(err.Error(), "specific candidate") {
		t.Errorf("Failover without candidate = %v, want HTTP 400", err)
	}
	m.mgr.err = healthapi.Reject(healthapi.ErrNotPossible, "no good candidates have been found")
	if _, err := c.Switchover(ctx, client.SwitchoverRequest{Leader: "n1"}); !errors.Is(err, healthapi.ErrNotPossible) || !strings.HasSuffix(err.Error(), ": HTTP 412: no good candidates have been found") {
		t.Errorf("Switchover refused = %v, want HTTP 412", err)
	}
}

func TestAuthAndTransportErrors(t *testing.T) {
	m := newMember(t, healthapi.Auth{Username: "admin", Password: "secret"})
	ctx := context.Background()
	for _, auth := range []*healthapi.BasicAuth{nil, {Username: "admin", Password: "wrong"}} {
		_, err := newClient(t, m, auth).Reload(ctx)
		var he *client.HTTPError
		if !errors.Is(err, client.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 || errors.Is(err, client.ErrUnreachable) {
			t.Errorf("Reload with %v = %v, want ErrUnauthorized", auth, err)
		}
	}
	// Credentials in the api_url are never sent.
	c, _ := client.New(strings.Replace(m.apiURL(), "://", "://admin:secret@", 1), client.Options{HTTP: m.srv.Client()})
	if _, err := c.Reload(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("Reload with credentials in the URL = %v, want ErrUnauthorized", err)
	}
	h, _ := healthapi.New(healthapi.Options{Source: m.state, Manager: m.mgr,
		Auth: healthapi.Auth{Username: "admin", Password: "secret", RequireClientCert: true}, Logger: quiet})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, _ = client.New(srv.URL+"/patroni", client.Options{HTTP: srv.Client(), Auth: admin})
	if _, err := c.Reload(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("Reload without a client certificate = %v, want ErrForbidden", err)
	}

	// Nothing listens: no answer at all.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ = client.New("http://"+addr+"/patroni", client.Options{})
	if _, err := c.Patroni(ctx); !errors.Is(err, client.ErrUnreachable) || isStatus(err, 0) {
		t.Errorf("Patroni on a closed port = %v, want ErrUnreachable", err)
	}
	if _, err := c.PostFailsafe(ctx, healthapi.FailsafeRequest{Name: "n1", APIURL: "http://127.0.0.1:1/patroni"}); !errors.Is(err, client.ErrUnreachable) {
		t.Errorf("PostFailsafe on a closed port = %v, want ErrUnreachable", err)
	}

	// A member that does not answer in time: the context's error.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	c, _ = client.New(slow.URL+"/patroni", client.Options{HTTP: slow.Client()})
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Patroni(tctx); !errors.Is(err, client.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Patroni on a slow member = %v, want ErrUnreachable and DeadlineExceeded", err)
	}

	// Statuses other than 200 and 503 on GET /patroni, and bodies that are
	// not the document.
	for _, tc := range []struct {
		code int
		body string
		want string
	}{
		{500, "boom", "HTTP 500: boom"},
		{200, "not json", "decoding"},
		{200, "[" + strings.Repeat(" ", client.MaxDocumentBytes) + "]", "longer than"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.code)
			_, _ = w.Write([]byte(tc.body))
		}))
		c, _ := client.New(srv.URL+"/patroni", client.Options{HTTP: srv.Client()})
		if _, err := c.Patroni(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Patroni answering %d %.20q = %v, want %q", tc.code, tc.body, err, tc.want)
		}
		srv.Close()
	}
}

func TestPostFailsafe(t *testing.T) {
	m := newMember(t, healthapi.Auth{Username: "admin", Password: "secret"})
	m.state.Store(&healthapi.NodeState{Name: "n2", Role: dcs.RoleReplica, PGState: dcs.StateRunning, Cluster: clusterState(t)})
	ctx := context.Background()
	req := healthapi.FailsafeRequest{Name: "n1", APIURL: "http://10.0.0.1:8008/patroni", ConnURL: "postgres://10.0.0.1:5432/postgres"}
	lsn, err := newClient(t, m, admin).PostFailsafe(ctx, req)
	if err != nil || lsn != 42 || m.mgr.last() != "failsafe from n1" {
		t.Errorf("PostFailsafe = %d, %v (member asked %q)", lsn, err, m.mgr.last())
	}
	if _, err := newClient(t, m, nil).PostFailsafe(ctx, req); !errors.Is(err, healthapi.ErrFailsafeRefused) || errors.Is(err, client.ErrUnreachable) {
		t.Errorf("PostFailsafe without auth = %v, want ErrFailsafeRefused", err)
	}
}

func TestTLS(t *testing.T) {
	m := &member{state: &healthapi.StateCache{}, mgr: &manager{}}
	h, err := healthapi.New(healthapi.Options{Source: m.state, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m.srv = httptest.NewUnstartedServer(h)
	m.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	m.srv.StartTLS()
	defer m.srv.Close()
	cfg := m.srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err := client.New(m.apiURL(), client.Options{TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Patroni(context.Background()); err != nil || s.State != "unknown" {
		t.Errorf("Patroni over TLS = %+v, %v", s, err)
	}
	c, _ = client.New(m.apiURL(), client.Options{})
	if _, err := c.Patroni(context.Background()); !errors.Is(err, client.ErrUnreachable) {
		t.Errorf("Patroni over TLS without the CA = %v, want ErrUnreachable", err)
	}
}

// TestCutAnswer: an answer cut short after its status reached the member,
// so it is not ErrUnreachable; an action keeps what it could read.
func TestCutAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Successfully"))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL+"/patroni", client.Options{HTTP: srv.Client()})
	ctx := context.Background()
	if r, err := c.Switchover(ctx, client.SwitchoverRequest{Leader: "n1"}); err != nil || r.StatusCode != 200 || r.Message != "Successfully" {
		t.Errorf("Switchover cut short = %+v, %v", r, err)
	}
	if _, err := c.Patroni(ctx); err == nil || errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "reading the answer") {
		t.Errorf("Patroni cut short = %v, want a read error that is not ErrUnreachable", err)
	}
}
