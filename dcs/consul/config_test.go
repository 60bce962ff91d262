package consul_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/internal/testutil"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  consul.Config
		want string
	}{
		{"no scope", consul.Config{}, "scope"},
		{"bad scope", consul.Config{Scope: "a/b"}, "scope"},
		{"bad namespace", consul.Config{Scope: "s", Namespace: "x y"}, "namespace"},
		{"url address", consul.Config{Scope: "s", Address: "http://127.0.0.1:8500"}, "host:port"},
		{"bad scheme", consul.Config{Scope: "s", Scheme: "ftp"}, "scheme"},
		{"negative lock delay", consul.Config{Scope: "s", LockDelay: -time.Second}, "lock delay"},
		{"negative timeout", consul.Config{Scope: "s", RequestTimeout: -time.Second}, "request timeout"},
		{"bad consistency", consul.Config{Scope: "s", Consistency: "eventual"}, "consistency"},
		{"empty check", consul.Config{Scope: "s", NodeChecks: []string{""}}, "node check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := consul.New(tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%+v) succeeded", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want it to mention %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestPrefixIsPatronis(t *testing.T) {
	for _, tc := range []struct{ ns, scope, want string }{
		{"", "batman", "service/batman/"},
		{"/service/", "batman", "service/batman/"},
		{"pg/prod", "batman", "pg/prod/batman/"},
	} {
		s := newStore(t, consul.Config{Namespace: tc.ns, Scope: tc.scope})
		if got := s.Prefix(); got != tc.want {
			t.Errorf("Prefix(%q, %q) = %q, want %q", tc.ns, tc.scope, got, tc.want)
		}
	}
}

// TestStoreDetails checks what the conformance suite does not: the TTL
// floor, bad keys, lease IDs shared across stores, and Patroni's paths.
func TestStoreDetails(t *testing.T) {
	a := testutil.StartConsul(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := newStore(t, consul.Config{Address: a.Addr(), Scope: "details"})
	other := newStore(t, consul.Config{Address: a.Addr(), Scope: "details"})

	_, err := s.Grant(ctx, 500*time.Millisecond)
	if !errors.Is(err, consul.ErrTTLTooShort) || !strings.Contains(err.Error(), "1s") {
		t.Fatalf("Grant below session_ttl_min = %v, want ErrTTLTooShort naming 1s", err)
	}
	for _, key := range []string{"/leader", "members/", "a//b", "../x", "members/./a"} {
		if _, err := s.Put(ctx, key, []byte("v"), 0, dcs.Cond{}); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
	}

	id, err := s.Grant(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	rev, err := s.Put(ctx, dcs.KeyLeader, []byte("node1"), id, dcs.Cond{Absent: true})
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	p := rawLeader(t, a, "details")
	if p == nil || string(p.Value) != "node1" || int64(p.CreateIndex) != rev || p.Session == "" {
		t.Fatalf("raw leader key = %+v, want node1 created at %d with a session", p, rev)
	}
	// Another store (another process) renews and revokes by lease ID.
	if err := other.KeepAlive(ctx, id); err != nil {
		t.Fatalf("KeepAlive from another store: %v", err)
	}
	if err := other.Revoke(ctx, id); err != nil {
		t.Fatalf("Revoke from another store: %v", err)
	}
	if p := rawLeader(t, a, "details"); p != nil {
		t.Fatalf("leader key survived its session: %+v", p)
	}
	if err := s.KeepAlive(ctx, id); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("KeepAlive after revoke = %v, want ErrLeaseLost", err)
	}
}
