package healthapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// mutating lists every endpoint that must require authentication.
var mutatingEndpoints = []struct{ method, path, body string }{
	{"POST", "/switchover", `{"leader":"n1","candidate":"n2"}`},
	{"DELETE", "/switchover", ""},
	{"POST", "/failover", `{"candidate":"n2"}`},
	{"POST", "/restart", `{}`},
	{"DELETE", "/restart", ""},
	{"POST", "/reload", ""},
	{"POST", "/reinitialize", `{}`},
	{"PATCH", "/config", `{"ttl":20}`},
	{"PUT", "/config", `{"ttl":20}`},
	{"POST", "/failsafe", `{"name":"n2"}`},
}

func TestAuthRequiredOnEveryMutatingEndpoint(t *testing.T) {
	for _, ep := range mutatingEndpoints {
		for _, tc := range []struct {
			name     string
			set      func(r *http.Request)
			wantAuth bool // want 401
		}{
			{"none", func(r *http.Request) {}, true},
			{"bad password", func(r *http.Request) { r.SetBasicAuth("admin", "secreT") }, true},
			{"bad user", func(r *http.Request) { r.SetBasicAuth("admin2", "secret") }, true},
			{"empty", func(r *http.Request) { r.SetBasicAuth("", "") }, true},
			{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer secret") }, true},
			{"good", func(r *http.Request) { r.SetBasicAuth("admin", "secret") }, false},
		} {
			cache := &StateCache{}
			cache.Store(primaryState())
			mgr := &fakeManager{config: []byte(`{"ttl":30}`), rev: 7}
			h := testHandler(t, cache, mgr)
			r := httptest.NewRequest(ep.method, ep.path, strings.NewReader(ep.body))
			tc.set(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tc.wantAuth {
				if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Basic realm="pgha"` {
					t.Errorf("%s %s (%s) = %d %q, want 401 with a challenge", ep.method, ep.path, tc.name, w.Code, w.Header().Get("WWW-Authenticate"))
				}
				if len(mgr.calls) != 0 {
					t.Errorf("%s %s (%s): manager called: %v", ep.method, ep.path, tc.name, mgr.calls)
				}
			} else if w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden {
				t.Errorf("%s %s (%s) = %d: %s", ep.method, ep.path, tc.name, w.Code, w.Body)
			}
		}
	}
	// Reads stay open.
	cache := &StateCache{}
	cache.Store(primaryState())
	h := testHandler(t, cache, &fakeManager{})
	for _, p := range []string{"/patroni", "/cluster", "/history", "/config", "/metrics", "/primary"} {
		if c := do(h, "GET", p, "", false).Code; c == 401 || c == 403 {
			t.Errorf("GET %s needs auth: %d", p, c)
		}
	}
}

func TestAllowlistAndClientCert(t *testing.T) {
	cache := &StateCache{}
	cache.Store(primaryState())
	h, err := New(Options{Source: cache, Manager: &fakeManager{}, Auth: Auth{
		RequireClientCert: true, Allowlist: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
	}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	verified := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	for _, tc := range []struct {
		remote string
		tls    *tls.ConnectionState
		code   int
	}{
		{"10.2.0.1:5555", verified, 403},
		{"10.1.0.1:5555", nil, 403},
		{"10.1.0.1:5555", &tls.ConnectionState{}, 403},
		{"10.1.0.1:5555", verified, 202},
		{"[::ffff:10.1.2.3]:5555", verified, 202},
		{"garbage", verified, 403},
	} {
		r := httptest.NewRequest("POST", "/reload", nil)
		r.RemoteAddr, r.TLS = tc.remote, tc.tls
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.code {
			t.Errorf("remote %s tls %v = %d, want %d", tc.remote, tc.tls != nil, w.Code, tc.code)
		}
	}
}

func TestNewOptions(t *testing.T) {
	src := &StateCache{}
	for _, tc := range []struct {
		opts Options
		want error
	}{
		{Options{}, ErrNoSource},
		{Options{Source: src, Manager: &fakeManager{}}, ErrNoAuth},
		{Options{Source: src, Manager: &fakeManager{}, AllowUnauthenticated: true}, nil},
		{Options{Source: src}, nil},
		{Options{Source: src, Auth: Auth{Username: "u"}}, ErrBadOptions},
		{Options{Source: src, Auth: Auth{Password: "p"}}, ErrBadOptions},
		{Options{Source: src, Auth: Auth{Username: "u", Password: "p", Realm: "a\"b"}}, ErrBadOptions},
		{Options{Source: src, MaxBodyBytes: -1}, ErrBadOptions},
	} {
		if _, err := New(tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("New(%+v) = %v, want %v", tc.opts, err, tc.want)
		}
	}
	// Without a Manager, management endpoints answer 503 after auth.
	cache := &StateCache{}
	h := testHandler(t, cache, nil)
	if w := do(h, "POST", "/reload", "", true); w.Code != 503 {
		t.Errorf("reload without manager = %d", w.Code)
	}
}

func TestSwitchoverAndFailover(t *testing.T) {
	future := t0.Add(3600e9).Format("2006-01-02T15:04:05Z07:00")
	for _, tc := range []struct {
		name     string
		path     string
		body     string
		paused   bool
		result   Result
		err      error
		code     int
		msg      string // substring of the answer
		wantCall string
	}{
		{"ok", "/switchover", `{"leader":"n1","candidate":"n2"}`, false, Result{Message: `Successfully switched over to "n2"`}, nil, 200, "Successfully", "switchover n1->n2"},
		{"any candidate", "/switchover", `{"leader":"n1"}`, false, Result{Message: "ok"}, nil, 200, "ok", "switchover n1->"},
		{"scheduled", "/switchover", `{"leader":"n1","candidate":"n2","scheduled_at":"` + future + `"}`, false, Result{Scheduled: true, Message: "Switchover scheduled"}, nil, 202, "scheduled", "switchover n1->n2 at 2025-03-01T13:00:00Z"},
		{"no leader", "/switchover", `{"candidate":"n2"}`, false, Result{}, nil, 400, "only from a specific leader", ""},
		{"same", "/switchover", `{"leader":"n1","candidate":"n1"}`, false, Result{}, nil, 400, "target and source are the same", ""},
		{"paused no candidate", "/switchover", `{"leader":"n1"}`, true, Result{}, nil, 400, "only to a specific candidate in a paused state", ""},
		{"paused scheduled", "/switchover", `{"leader":"n1","candidate":"n2","scheduled_at":"` + future + `"}`, true, Result{}, nil, 400, "paused state", ""},
		{"no timezone", "/switchover", `{"leader":"n1","scheduled_at":"2030-01-01T10:00:00"}`, false, Result{}, nil, 400, "Timezone information is mandatory", ""},
		{"past", "/switchover", `{"leader":"n1","scheduled_at":"2020-01-01T10:00:00Z"}`, false, Result{}, nil, 422, "in the past", ""},
		{"unparsable time", "/switchover", `{"leader":"n1","scheduled_at":"tomorrow"}`, false, Result{}, nil, 400, "Unable to parse", ""},
		{"not possible", "/switchover", `{"leader":"n1","candidate":"n2"}`, false, Result{}, Reject(ErrNotPossible, "switchover is not possible: no good candidates have been found"), 412, "no good candidates", "switchover n1->n2"},
		{"dcs down", "/switchover", `{"leader":"n1","candidate":"n2"}`, false, Result{}, fmt.Errorf("writing failover key: %w", dcs.ErrUnavailable), 503, "store unavailable", "switchover n1->n2"},
		{"conflict", "/switchover", `{"leader":"n1","candidate":"n2"}`, false, Result{}, Reject(ErrConflict, "Switchover already scheduled"), 409, "already", "switchover n1->n2"},
		{"manager invalid", "/switchover", `{"leader":"n1","candidate":"n2"}`, false, Result{}, Reject(ErrInvalid, "nope"), 400, "nope", "switchover n1->n2"},
		{"failover", "/failover", `{"candidate":"n2"}`, false, Result{Message: `Successfully failed over to "n2"`}, nil, 200, "failed over", "failover ->n2"},
		{"failover member", "/failover", `{"member":"n3"}`, false, Result{Message: "ok"}, nil, 200, "ok", "failover ->n3"},
		{"failover with leader", "/failover", `{"leader":"n1","candidate":"n2"}`, false, Result{Message: "ok"}, nil, 200, "ok", "switchover n1->n2"},
		{"failover allowing data loss", "/failover", `{"candidate":"n2","allow_data_loss":true}`, false, Result{Message: "ok"}, nil, 200, "ok", "failover ->n2 allowing data loss"},
		{"allow_data_loss not a boolean", "/failover", `{"candidate":"n2","allow_data_loss":"maybe"}`, false, Result{}, nil, 400, "allow_data_loss", ""},
		{"failover no candidate", "/failover", `{"leader":"n1"}`, false, Result{}, nil, 400, "only to a specific candidate", ""},
		{"failover scheduled", "/failover", `{"candidate":"n2","scheduled_at":"` + future + `"}`, false, Result{}, nil, 400, "can't be scheduled", ""},
		{"bad json", "/switchover", `{"leader":`, false, Result{}, nil, 400, "Bad request", ""},
		{"not object", "/switchover", `["n1"]`, false, Result{}, nil, 400, "Bad request", ""},
		{"trailing", "/switchover", `{"leader":"n1"} {}`, false, Result{}, nil, 400, "trailing", ""},
		{"wrong type", "/switchover", `{"leader":1}`, false, Result{}, nil, 400, `"leader" must be a string`, ""},
		{"bad name", "/switchover", `{"leader":"n1","candidate":"a/b"}`, false, Result{}, nil, 400, "invalid member name", ""},
		{"empty body", "/switchover", ``, false, Result{}, nil, 411, "Content-Length", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &StateCache{}
			cache.Store(with(primaryState(), func(s *NodeState) { s.Paused = tc.paused }))
			mgr := &fakeManager{result: tc.result, err: tc.err}
			w := do(testHandler(t, cache, mgr), "POST", tc.path, tc.body, true)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.msg) {
				t.Errorf("= %d %q, want %d containing %q", w.Code, w.Body, tc.code, tc.msg)
			}
			if got := mgr.lastCall(); got != tc.wantCall {
				t.Errorf("manager call %q, want %q", got, tc.wantCall)
			}
		})
	}
}

func TestRestartReloadReinitialize(t *testing.T) {
	future := t0.Add(3600e9).Format("2006-01-02T15:04:05-07:00")
	for _, tc := range []struct {
		name     string
		method   string
		path     string
		body     string
		state    *NodeState
		result   Result
		err      error
		code     int
		msg      string
		wantCall string
	}{
		{"restart", "POST", "/restart", `{}`, nil, Result{Message: "restarted successfully"}, nil, 200, "restarted", "restart"},
		{"restart no body", "POST", "/restart", ``, nil, Result{Message: "restarted successfully"}, nil, 200, "restarted", "restart"},
		{"restart role match", "POST", "/restart", `{"role":"master"}`, nil, Result{Message: "ok"}, nil, 200, "ok", "restart"},
		{"restart role mismatch", "POST", "/restart", `{"role":"replica"}`, nil, Result{}, nil, 503, "restart conditions are not satisfied", ""},
		{"restart bad role", "POST", "/restart", `{"role":"boss"}`, nil, Result{}, nil, 400, "role should be", ""},
		{"restart version older", "POST", "/restart", `{"postgres_version":"15.5"}`, nil, Result{Message: "ok"}, nil, 200, "ok", "restart"},
		{"restart version same", "POST", "/restart", `{"postgres_version":"15.4"}`, nil, Result{}, nil, 503, "not satisfied", ""},
		{"restart bad version", "POST", "/restart", `{"postgres_version":"fifteen"}`, nil, Result{}, nil, 400, "first.major.minor", ""},
		{"restart pending no", "POST", "/restart", `{"restart_pending":true}`, nil, Result{}, nil, 503, "not satisfied", ""},
		{"restart pending yes", "POST", "/restart", `{"restart_pending":"true"}`, with(primaryState(), func(s *NodeState) { s.PendingRestart = true }), Result{Message: "ok"}, nil, 200, "ok", "restart"},
		{"restart timeout", "POST", "/restart", `{"timeout":"30s"}`, nil, Result{Message: "ok"}, nil, 200, "ok", "restart"},
		{"restart bad timeout", "POST", "/restart", `{"timeout":-3}`, nil, Result{}, nil, 400, "Timeout", ""},
		{"restart scheduled", "POST", "/restart", `{"schedule":"` + future + `"}`, nil, Result{Scheduled: true, Message: "Restart scheduled"}, nil, 202, "scheduled", "restart"},
		{"restart scheduled paused", "POST", "/restart", `{"schedule":"` + future + `"}`, with(primaryState(), func(s *NodeState) { s.Paused = true }), Result{}, nil, 500, "paused", ""},
		{"restart already", "POST", "/restart", `{"schedule":"` + future + `"}`, nil, Result{}, Reject(ErrConflict, "Another restart is already scheduled"), 409, "already", "restart"},
		{"restart failed", "POST", "/restart", `{}`, nil, Result{}, errors.New("restart failed"), 503, "restart failed", "restart"},
		{"restart bad bool", "POST", "/restart", `{"restart_pending":"maybe"}`, nil, Result{}, nil, 400, "boolean", ""},
		{"cancel restart", "DELETE", "/restart", ``, nil, Result{}, nil, 200, "Deleted scheduled restart", "cancel restart"},
		{"cancel restart none", "DELETE", "/restart", ``, nil, Result{}, ErrNotFound, 404, "no scheduled restart", "cancel restart"},
		{"cancel switchover", "DELETE", "/switchover", ``, nil, Result{}, nil, 200, "Deleted scheduled switchover", "cancel switchover"},
		{"cancel switchover none", "DELETE", "/switchover", ``, nil, Result{}, dcs.ErrNotFound, 404, "no scheduled switchover", "cancel switchover"},
		{"cancel switchover cas", "DELETE", "/switchover", ``, nil, Result{}, dcs.ErrConflict, 409, "conflict", "cancel switchover"},
		{"reload", "POST", "/reload", ``, nil, Result{}, nil, 202, "reload scheduled", "reload"},
		{"reload failed", "POST", "/reload", ``, nil, Result{}, errors.New("boom"), 503, "boom", "reload"},
		{"reinit", "POST", "/reinitialize", `{"force":true}`, replicaState(), Result{}, nil, 200, "reinitialize started", "reinitialize"},
		{"reinit leader", "POST", "/reinitialize", ``, nil, Result{}, errors.New("I am the leader, can not reinitialize"), 503, "leader", "reinitialize"},
		{"reinit bad", "POST", "/reinitialize", `{"force":3}`, nil, Result{}, nil, 400, "boolean", ""},
		{"too large", "POST", "/reinitialize", `{"force":"` + strings.Repeat("x", 70<<10) + `"}`, nil, Result{}, nil, 413, "larger than", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			if st == nil {
				st = primaryState()
			}
			cache := &StateCache{}
			cache.Store(st)
			mgr := &fakeManager{result: tc.result, err: tc.err}
			w := do(testHandler(t, cache, mgr), tc.method, tc.path, tc.body, true)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.msg) {
				t.Errorf("= %d %q, want %d containing %q", w.Code, w.Body, tc.code, tc.msg)
			}
			if got := mgr.lastCall(); got != tc.wantCall {
				t.Errorf("manager call %q, want %q", got, tc.wantCall)
			}
		})
	}
}

// TestActionTimeout checks that a Manager that does not answer is cut off by
// ActionTimeout and the client gets 503.
func TestActionTimeout(t *testing.T) {
	cache := &StateCache{}
	cache.Store(primaryState())
	mgr := &fakeManager{block: make(chan struct{})}
	h, err := New(Options{Source: cache, Manager: mgr, AllowUnauthenticated: true, ActionTimeout: 50e6, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w := do(h, "POST", "/switchover", `{"leader":"n1"}`, false)
	if w.Code != 503 || !strings.Contains(w.Body.String(), context.DeadlineExceeded.Error()) {
		t.Errorf("= %d %q", w.Code, w.Body)
	}
}

func FuzzSwitchoverBody(f *testing.F) {
	for _, s := range []string{
		`{"leader":"n1","candidate":"n2"}`, `{"leader":"n1","scheduled_at":"2030-01-01T00:00:00+00:00"}`,
		`{"member":"n2"}`, `{}`, `[]`, `null`, `{"leader":null}`, `{"leader":"n1","candidate":"n1"}`,
		`{"leader":"\u0000"}`, `{"scheduled_at":12}`, `{"leader":"n1","scheduled_at":"2030-13-45T99:00:00Z"}`, `{`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	cache := &StateCache{}
	cache.Store(primaryState())
	mgr := &fakeManager{result: Result{Message: "ok"}}
	h := testHandler(f, cache, mgr)
	f.Fuzz(func(t *testing.T, body string, switchover bool) {
		path := "/failover"
		if switchover {
			path = "/switchover"
		}
		w := do(h, "POST", path, body, true)
		switch w.Code {
		case 200, 400, 411, 422:
		default:
			t.Fatalf("POST %s %q = %d %q", path, body, w.Code, w.Body)
		}
	})
}
