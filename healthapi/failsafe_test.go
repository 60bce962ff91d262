package healthapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// fakeFailsafeManager is a fakeManager that also takes part in failsafe mode.
type fakeFailsafeManager struct {
	fakeManager
	lsn    int64
	fsErr  error
	gotReq []FailsafeRequest
	fsMu   sync.Mutex
}

func (m *fakeFailsafeManager) AcceptFailsafe(ctx context.Context, req FailsafeRequest) (int64, error) {
	m.fsMu.Lock()
	m.gotReq = append(m.gotReq, req)
	m.fsMu.Unlock()
	return m.lsn, m.fsErr
}

func (m *fakeFailsafeManager) requests() []FailsafeRequest {
	m.fsMu.Lock()
	defer m.fsMu.Unlock()
	return append([]FailsafeRequest(nil), m.gotReq...)
}

// failsafeReplica is n2 with failsafe mode on and n1, n2, n3 in the
// failsafe key.
func failsafeReplica() *NodeState {
	s := replicaState()
	s.Cluster = cluster("")
	s.Cluster.Config.FailsafeMode = bptr(true)
	s.Cluster.Failsafe = dcs.Failsafe{
		"n1": "http://10.0.0.1:8008/patroni", "n2": "http://10.0.0.2:8008/patroni", "n3": "http://10.0.0.3:8008/patroni",
	}
	return s
}

const goodFailsafeBody = `{"name":"n1","conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni",` +
	`"slots":{"n2":104857600,"logical_1":5}}`

func TestPostFailsafe(t *testing.T) {
	off := with(failsafeReplica(), func(s *NodeState) { s.Cluster = cluster("") })
	for _, tc := range []struct {
		name    string
		state   *NodeState
		mgr     Manager // nil: a fakeFailsafeManager with lsn and err
		body    string
		lsn     int64
		err     error
		code    int
		msg     string // the whole answer when code is 200 or 500, else a substring
		lsnHdr  string
		wantReq *FailsafeRequest
	}{
		{name: "accepted", body: goodFailsafeBody, lsn: 100 << 20, code: 200, msg: "Accepted", lsnHdr: "104857600",
			wantReq: &FailsafeRequest{Name: "n1", ConnURL: "postgres://10.0.0.1:5432/postgres", APIURL: "http://10.0.0.1:8008/patroni",
				Slots: map[string]int64{"n2": 100 << 20, "logical_1": 5}}},
		{name: "position unknown", body: `{"name":"n1"}`, code: 200, msg: "Accepted", wantReq: &FailsafeRequest{Name: "n1"}},
		{name: "unknown fields ignored", body: `{"name":"n1","api_url":"http://h/patroni","extra":[1,{"x":2}],"slots":null}`, lsn: 7,
			code: 200, msg: "Accepted", lsnHdr: "7", wantReq: &FailsafeRequest{Name: "n1", APIURL: "http://h/patroni"}},
		{name: "running as a leader", body: goodFailsafeBody, err: fmt.Errorf("n2 is primary: %w", ErrRunningAsLeader), code: 500, msg: "Running as a leader"},
		{name: "manager error", body: goodFailsafeBody, err: errors.New("state not known yet"), code: 500, msg: "state not known yet"},
		{name: "failsafe off", state: off, body: goodFailsafeBody, code: 502, msg: "Failsafe mode is not enabled"},
		{name: "no state", state: &NodeState{}, body: goodFailsafeBody, code: 502, msg: "Failsafe mode is not enabled"},
		{name: "manager without failsafe", mgr: &fakeManager{}, body: goodFailsafeBody, code: 503, msg: "failsafe is not available on this node"},
		{name: "not json", body: `name=n1`, code: 400, msg: "Bad request"},
		{name: "not an object", body: `["n1"]`, code: 400, msg: "Bad request"},
		{name: "truncated", body: `{"name":"n1"`, code: 400, msg: "Bad request"},
		{name: "empty object", body: `{}`, code: 400, msg: `"name" is required`},
		{name: "null name", body: `{"name":null}`, code: 400, msg: `"name" is required`},
		{name: "name not a string", body: `{"name":1}`, code: 400, msg: `"name" must be a string`},
		{name: "control characters in name", body: `{"name":"n1\u0000\r\nX-Evil: 1"}`, code: 400, msg: "invalid member name"},
		{name: "slash in name", body: `{"name":"../n1"}`, code: 400, msg: "invalid member name"},
		{name: "long name", body: `{"name":"` + strings.Repeat("n", 300) + `"}`, code: 400, msg: "invalid member name"},
		{name: "pgha ttl", body: `{"name":"n1","ttl":30}`, code: 200, msg: "Accepted", wantReq: &FailsafeRequest{Name: "n1", TTL: 30}},
		{name: "ttl not a number", body: `{"name":"n1","ttl":"30s"}`, code: 400, msg: `"ttl" must be a number`},
		{name: "negative ttl", body: `{"name":"n1","ttl":-1}`, code: 400, msg: `"ttl" must be between`},
		{name: "huge ttl", body: `{"name":"n1","ttl":1e300}`, code: 400, msg: `"ttl" must be between`},
		{name: "api_url not a string", body: `{"name":"n1","api_url":{}}`, code: 400, msg: `"api_url" must be a string`},
		{name: "newline in conn_url", body: `{"name":"n1","conn_url":"postgres://h\n"}`, code: 400, msg: `"conn_url" must be at most 2048 bytes`},
		{name: "long api_url", body: `{"name":"n1","api_url":"http://` + strings.Repeat("h", 2100) + `"}`, code: 400, msg: `"api_url" must be at most`},
		{name: "slots not an object", body: `{"name":"n1","slots":[1]}`, code: 400, msg: `"slots" must be an object`},
		{name: "negative slot", body: `{"name":"n1","slots":{"n2":-1}}`, code: 400, msg: "non-negative integer"},
		{name: "fractional slot", body: `{"name":"n1","slots":{"n2":1.5}}`, code: 400, msg: "non-negative integer"},
		{name: "string slot", body: `{"name":"n1","slots":{"n2":"0/3000000"}}`, code: 400, msg: "non-negative integer"},
		{name: "slot out of range", body: `{"name":"n1","slots":{"n2":99999999999999999999}}`, code: 400, msg: "non-negative integer"},
		{name: "bad slot name", body: `{"name":"n1","slots":{"Bad-Slot":1}}`, code: 400, msg: "invalid slot name"},
		{name: "empty slot name", body: `{"name":"n1","slots":{"":1}}`, code: 400, msg: "invalid slot name"},
		{name: "slot name over 63 bytes", body: `{"name":"n1","slots":{"` + strings.Repeat("a", 64) + `":1}}`, code: 400, msg: "invalid slot name"},
		{name: "slot name of 63 bytes", body: `{"name":"n1","slots":{"` + strings.Repeat("a", 63) + `":-1}}`, code: 400, msg: "non-negative integer"},
		{name: "huge body", body: `{"name":"n1","api_url":"` + strings.Repeat("x", 70<<10) + `"}`, code: 413, msg: "larger than"},
		{name: "empty body", body: ``, code: 411, msg: "Content-Length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			if st == nil {
				st = failsafeReplica()
			}
			cache := &StateCache{}
			cache.Store(st)
			fm := &fakeFailsafeManager{lsn: tc.lsn, fsErr: tc.err}
			mgr := tc.mgr
			if mgr == nil {
				mgr = fm
			}
			w := do(testHandler(t, cache, mgr), "POST", "/failsafe", tc.body, true)
			body := w.Body.String()
			if w.Code != tc.code || !strings.Contains(body, tc.msg) || (tc.code == 200 || tc.code == 500) && body != tc.msg {
				t.Errorf("= %d %q, want %d %q", w.Code, body, tc.code, tc.msg)
			}
			if got := w.Header().Get("lsn"); got != tc.lsnHdr {
				t.Errorf("lsn header %q, want %q", got, tc.lsnHdr)
			}
			got := fm.requests()
			switch {
			case tc.wantReq != nil && (len(got) != 1 || !reflect.DeepEqual(got[0], *tc.wantReq)):
				t.Errorf("manager got %+v, want %+v", got, *tc.wantReq)
			case tc.wantReq == nil && tc.code != 500 && len(got) != 0:
				t.Errorf("manager called: %+v", got)
			}
		})
	}
}

func TestFailsafeMethods(t *testing.T) {
	cache := &StateCache{}
	cache.Store(failsafeReplica())
	h := testHandler(t, cache, &fakeFailsafeManager{})
	if w := do(h, "GET", "/failsafe", "", false); w.Code != 200 || !strings.Contains(w.Body.String(), `"n2":"http://10.0.0.2:8008/patroni"`) {
		t.Errorf("GET /failsafe = %d %q", w.Code, w.Body)
	}
	if w := do(h, "HEAD", "/failsafe", "", false); w.Code != 200 {
		t.Errorf("HEAD /failsafe = %d", w.Code)
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		w := do(h, m, "/failsafe", goodFailsafeBody, true)
		if w.Code != 405 || w.Header().Get("Allow") != "GET, POST" {
			t.Errorf("%s /failsafe = %d, Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	// Without any Manager the endpoint answers like every management one.
	if w := do(testHandler(t, cache, nil), "POST", "/failsafe", goodFailsafeBody, true); w.Code != 503 {
		t.Errorf("POST /failsafe without a manager = %d", w.Code)
	}
}

// TestFailsafeAccess checks that POST /failsafe is protected by every
// configured mechanism, the allowlist included, as Patroni protects it with
// its static restapi.allowlist.
func TestFailsafeAccess(t *testing.T) {
	cache := &StateCache{}
	cache.Store(failsafeReplica())
	fm := &fakeFailsafeManager{lsn: 42}
	h, err := New(Options{Source: cache, Manager: fm, Logger: quiet(), Auth: Auth{
		Username: "admin", Password: "secret", RequireClientCert: true,
		Allowlist: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	verified := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	for _, tc := range []struct {
		name   string
		remote string
		tls    *tls.ConnectionState
		user   string
		code   int
	}{
		{"member with cert and password", "10.0.0.1:40000", verified, "secret", 200},
		{"outside the allowlist", "192.0.2.1:40000", verified, "secret", 403},
		{"no client certificate", "10.0.0.1:40000", nil, "secret", 403},
		{"wrong password", "10.0.0.1:40000", verified, "wrong", 401},
		{"no password", "10.0.0.1:40000", verified, "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/failsafe", strings.NewReader(goodFailsafeBody))
			r.RemoteAddr, r.TLS = tc.remote, tc.tls
			if tc.user != "" {
				r.SetBasicAuth("admin", tc.user)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Errorf("= %d %q, want %d", w.Code, w.Body, tc.code)
			}
			if tc.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
	if n := len(fm.requests()); n != 1 {
		t.Errorf("manager called %d times, want once", n)
	}
}

// TestPostFailsafeRoundTrip runs the client against the real handler.
func TestPostFailsafeRoundTrip(t *testing.T) {
	cache := &StateCache{}
	cache.Store(failsafeReplica())
	fm := &fakeFailsafeManager{lsn: 100 << 20}
	srv := httptest.NewServer(testHandler(t, cache, fm))
	defer srv.Close()
	req := FailsafeRequest{Name: "n1", ConnURL: "postgres://10.0.0.1:5432/postgres", APIURL: "http://10.0.0.1:8008/patroni",
		Slots: map[string]int64{"n2": 99 << 20}, TTL: 30}
	ctx := context.Background()

	lsn, err := PostFailsafe(ctx, srv.Client(), srv.URL+"/patroni", &BasicAuth{Username: "admin", Password: "secret"}, req)
	if err != nil || lsn != 100<<20 {
		t.Fatalf("PostFailsafe = %d, %v", lsn, err)
	}
	if got := fm.requests(); len(got) != 1 || !reflect.DeepEqual(got[0], req) {
		t.Errorf("member received %+v, want %+v", got, req)
	}

	// Without credentials the member answers 401: refused.
	if _, err := PostFailsafe(ctx, srv.Client(), srv.URL+"/patroni", nil, req); !errors.Is(err, ErrFailsafeRefused) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("without auth: %v", err)
	}

	// A primary answers 500 "Running as a leader".
	fm.fsErr = ErrRunningAsLeader
	_, err = PostFailsafe(ctx, srv.Client(), srv.URL+"/patroni", &BasicAuth{Username: "admin", Password: "secret"}, req)
	if !errors.Is(err, ErrFailsafeRefused) || !errors.Is(err, ErrRunningAsLeader) || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("from a primary: %v", err)
	}
}

func TestPostFailsafeClient(t *testing.T) {
	type answer struct {
		code   int
		body   string
		lsnHdr string
	}
	var (
		mu       sync.Mutex
		ans      answer
		lastPath string
		lastBody string
		lastCT   string
		lastUser string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, _, _ := r.BasicAuth()
		mu.Lock()
		a := ans
		lastPath, lastBody, lastCT, lastUser = r.Method+" "+r.URL.RequestURI(), string(b), r.Header.Get("Content-Type"), u
		mu.Unlock()
		if a.lsnHdr != "" {
			w.Header()["lsn"] = []string{a.lsnHdr} // lower case on the wire, as Patroni writes it
		}
		w.WriteHeader(a.code)
		_, _ = io.WriteString(w, a.body)
	}))
	defer srv.Close()
	req := FailsafeRequest{Name: "n1", ConnURL: "postgres://10.0.0.1:5432/postgres", APIURL: "http://10.0.0.1:8008/patroni"}

	for _, tc := range []struct {
		name    string
		ans     answer
		lsn     int64
		refused bool
		leader  bool
		msg     string
	}{
		{name: "accepted", ans: answer{200, "Accepted", "12345"}, lsn: 12345},
		{name: "accepted without lsn", ans: answer{200, "Accepted", ""}},
		{name: "accepted with a bad lsn", ans: answer{200, "Accepted", "0/3000000"}},
		{name: "accepted with a negative lsn", ans: answer{200, "Accepted", "-5"}},
		{name: "accepted with a newline", ans: answer{200, "Accepted\n", "1"}, lsn: 1},
		{name: "200 but not Accepted", ans: answer{200, "OK", "1"}, refused: true, msg: `HTTP 200: "OK"`},
		{name: "running as a leader", ans: answer{500, "Running as a leader", ""}, refused: true, leader: true, msg: "HTTP 500"},
		{name: "500", ans: answer{500, "boom", ""}, refused: true, msg: `HTTP 500: "boom"`},
		{name: "502", ans: answer{502, "Failsafe mode is not enabled", ""}, refused: true, msg: "HTTP 502"},
		{name: "hostile answer", ans: answer{403, "a\x1b[31mb" + strings.Repeat("x", 200), ""}, refused: true, msg: `"a?[31mb`},
		{name: "huge answer", ans: answer{200, strings.Repeat("A", 70<<10), ""}, refused: true, msg: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			ans = tc.ans
			mu.Unlock()
			lsn, err := PostFailsafe(context.Background(), srv.Client(), srv.URL+"/patroni?x=1#f", &BasicAuth{Username: "u", Password: "p"}, req)
			if lsn != tc.lsn {
				t.Errorf("lsn = %d, want %d", lsn, tc.lsn)
			}
			if (err == nil) == tc.refused || errors.Is(err, ErrFailsafeRefused) != tc.refused || errors.Is(err, ErrRunningAsLeader) != tc.leader {
				t.Fatalf("err = %v, refused %v leader %v", err, tc.refused, tc.leader)
			}
			if err != nil && (!strings.Contains(err.Error(), srv.URL+"/failsafe") || !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("err %q does not name the URL and %q", err, tc.msg)
			}
			if strings.ContainsAny(fmt.Sprint(err), "\x1b\r\n") {
				t.Errorf("control characters in the error: %q", err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := `{"name":"n1","conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni"}`
			if lastPath != "POST /failsafe" || lastBody != want || lastCT != "application/json" || lastUser != "u" {
				t.Errorf("request %s %q %q user %q", lastPath, lastBody, lastCT, lastUser)
			}
		})
	}
}

func TestPostFailsafeErrors(t *testing.T) {
	ctx := context.Background()
	good := FailsafeRequest{Name: "n1"}
	for _, tc := range []struct {
		name   string
		apiURL string
		req    FailsafeRequest
	}{
		{"relative URL", "/patroni", good},
		{"ftp", "ftp://10.0.0.1/patroni", good},
		{"no host", "http:///patroni", good},
		{"unparsable", "http://[::1/patroni", good},
		{"empty", "", good},
		{"no name", "http://10.0.0.1:8008/patroni", FailsafeRequest{}},
		{"bad name", "http://10.0.0.1:8008/patroni", FailsafeRequest{Name: "n\n1"}},
		{"negative slot", "http://10.0.0.1:8008/patroni", FailsafeRequest{Name: "n1", Slots: map[string]int64{"n2": -1}}},
		{"NaN ttl", "http://10.0.0.1:8008/patroni", FailsafeRequest{Name: "n1", TTL: math.NaN()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A transport that fails the test shows nothing was sent.
			client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				t.Error("request sent")
				return nil, errors.New("no")
			})}
			if _, err := PostFailsafe(ctx, client, tc.apiURL, nil, tc.req); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}

	// A member that does not answer is an error, but not a refusal.
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, err := PostFailsafe(ctx, nil, addr+"/patroni", nil, good)
	if err == nil || errors.Is(err, ErrFailsafeRefused) || !strings.Contains(err.Error(), addr+"/failsafe") {
		t.Errorf("closed server: %v", err)
	}

	// The context bounds the call.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := PostFailsafe(cctx, slow.Client(), slow.URL, nil, good); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestFailsafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.0.0.1:8008/patroni":            "http://10.0.0.1:8008/failsafe",
		"https://user:pw@node-1:8443/patroni?a=b": "https://node-1:8443/failsafe",
		"HTTP://[fe80::1]:8008/patroni#x":         "http://[fe80::1]:8008/failsafe",
		"http://node":                             "http://node/failsafe",
	} {
		if got, err := FailsafeURL(in); err != nil || got != want {
			t.Errorf("FailsafeURL(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFailsafeStateFlags: what patroni_failsafe_mode_enabled,
// patroni_failsafe_member and patroni_failsafe_mode_is_active report
// (healthapi/metrics renders them).
func TestFailsafeStateFlags(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		state                   *NodeState
		enabled, member, active bool
	}{
		{name: "member", state: failsafeReplica(), enabled: true, member: true},
		{name: "not listed", state: with(failsafeReplica(), func(s *NodeState) { s.Name = "n9" }), enabled: true},
		{name: "mode off", state: with(failsafeReplica(), func(s *NodeState) { s.Cluster.Config.FailsafeMode = bptr(false) })},
		{name: "no cluster", state: with(failsafeReplica(), func(s *NodeState) { s.Cluster = nil })},
		{name: "active", state: with(failsafeReplica(), func(s *NodeState) { s.FailsafeActive = true }), enabled: true, member: true, active: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state
			if got := s.FailsafeEnabled(); got != tc.enabled {
				t.Errorf("FailsafeEnabled = %v, want %v", got, tc.enabled)
			}
			if got := s.FailsafeMember(); got != tc.member {
				t.Errorf("FailsafeMember = %v, want %v", got, tc.member)
			}
			if s.FailsafeActive != tc.active {
				t.Errorf("FailsafeActive = %v, want %v", s.FailsafeActive, tc.active)
			}
		})
	}
}

func FuzzFailsafeBody(f *testing.F) {
	for _, s := range []string{
		goodFailsafeBody, `{"name":"n1"}`, `{}`, `[]`, `null`, `{"name":null}`, `{"name":"\u0000"}`,
		`{"name":"n1","slots":{"a":-1}}`, `{"name":"n1","slots":{"a":1e30}}`, `{"name":"n1","slots":[]}`, `{`,
	} {
		f.Add(s)
	}
	cache := &StateCache{}
	cache.Store(failsafeReplica())
	h := testHandler(f, cache, &fakeFailsafeManager{lsn: 1})
	f.Fuzz(func(t *testing.T, body string) {
		w := do(h, "POST", "/failsafe", body, true)
		switch w.Code {
		case 200, 400, 411, 413:
		default:
			t.Fatalf("POST /failsafe %q = %d %q", body, w.Code, w.Body)
		}
	})
}
