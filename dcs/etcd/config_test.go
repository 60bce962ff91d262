package etcd_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// TestNewRejectsBadConfig checks that invalid configurations get a clear
// error naming the problem, never a panic or a half-built store.
func TestNewRejectsBadConfig(t *testing.T) {
	ep := []string{"http://127.0.0.1:1"}
	tests := []struct {
		name string
		cfg  etcd.Config
		want string
	}{
		{"no endpoints", etcd.Config{Scope: "a"}, "no endpoints"},
		{"empty endpoint", etcd.Config{Endpoints: []string{""}, Scope: "a"}, "empty endpoint"},
		{"no scope", etcd.Config{Endpoints: ep}, "scope"},
		{"scope with a slash", etcd.Config{Endpoints: ep, Scope: "a/b"}, "scope"},
		{"scope with a newline", etcd.Config{Endpoints: ep, Scope: "a\nb"}, "scope"},
		{"bad namespace", etcd.Config{Endpoints: ep, Namespace: "x y", Scope: "a"}, "namespace"},
		{"dot-dot namespace", etcd.Config{Endpoints: ep, Namespace: "/../", Scope: "a"}, "namespace"},
		{"user without password", etcd.Config{Endpoints: ep, Scope: "a", Username: "u"}, "password"},
		{"password without user", etcd.Config{Endpoints: ep, Scope: "a", Password: "p"}, "password"},
		{"negative request timeout", etcd.Config{Endpoints: ep, Scope: "a", RequestTimeout: -time.Second}, "request timeout"},
		{"negative dial timeout", etcd.Config{Endpoints: ep, Scope: "a", DialTimeout: -time.Second}, "dial timeout"},
		{"negative keepalive", etcd.Config{Endpoints: ep, Scope: "a", DialKeepAliveTime: -time.Second}, "keepalive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := etcd.New(tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := etcd.NewFromClient(nil, "", "a", etcd.Options{}); err == nil {
		t.Error("NewFromClient(nil) succeeded")
	}
}

// TestNewIsLazy checks that New without credentials does not need etcd to
// be up: the store is built and its calls fail as unavailable.
func TestNewIsLazy(t *testing.T) {
	p := testutil.NewProxy(t, "127.0.0.1:1")
	p.Refuse()
	s := newStore(t, etcd.Config{Endpoints: []string{p.URL()}, Scope: "lazy", RequestTimeout: 200 * time.Millisecond})
	if _, err := s.Get(opCtx(t)); !errors.Is(err, dcs.ErrUnavailable) {
		t.Fatalf("Get = %v, want ErrUnavailable", err)
	}
}

// TestNewFromClient builds a store on a caller's client: it works, and
// closing the store leaves the client open.
func TestNewFromClient(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	cli := c.Client(t)
	s, err := etcd.NewFromClient(cli, "embedder", "x", etcd.Options{RequestTimeout: time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("NewFromClient: %v", err)
	}
	if s.Prefix() != "/embedder/x/" {
		t.Fatalf("Prefix() = %q", s.Prefix())
	}
	mustPut(t, s, dcs.KeyConfig, "{}", 0, dcs.Cond{})
	ch := s.Watch(t.Context(), 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case _, ok := <-ch:
			if !ok {
				return nil
			}
		default:
		}
		return errors.New("still open")
	}, "Close must end running watches")
	if _, err := s.Get(opCtx(t)); !errors.Is(err, etcd.ErrClosed) || !errors.Is(err, dcs.ErrUnavailable) {
		t.Fatalf("Get on a closed store = %v, want ErrClosed and ErrUnavailable", err)
	}
	resp, err := cli.Get(opCtx(t), "/embedder/x/config")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("client after the store closed: %v, %+v", err, resp)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
