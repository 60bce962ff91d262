package failover_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/internal/testutil"
)

// TestMemberKeysShowPause: while the cluster is paused every member key
// carries "pause": true, as Patroni's do (patronictl pause --wait waits
// for it), and loses it on resume.
func TestMemberKeysShowPause(t *testing.T) {
	c := failovertest.NewCluster(t, failovertest.Options{})
	leader, err := c.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, pause := range []bool{true, false} {
		cfg, err := leader.Controller.ReadConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"ttl": 4, "loop_wait": 0.5, "pause": %v}`, pause)
		if err := leader.Controller.WriteConfig(context.Background(), []byte(body), cfg.ModRevision); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			cl := read(t, c.Store())
			for _, n := range c.Nodes() {
				m := cl.Member(n.Name)
				if m == nil {
					return fmt.Errorf("no member key for %s", n.Name)
				}
				if got := m.Pause != nil && *m.Pause; got != pause {
					return fmt.Errorf("%s's member key: pause %v, want %v", n.Name, got, pause)
				}
			}
			return nil
		}, "every member key with the pause flag of the config key")
	}
}

// TestMemberKeyProxyURL: ControllerOptions.ProxyURL is published as the
// member key's proxy_url, as Patroni's postgresql.proxy_address is.
func TestMemberKeyProxyURL(t *testing.T) {
	const proxy = "postgres://10.0.0.9:6432/postgres"
	c := failovertest.NewCluster(t, failovertest.Options{Configure: func(i int, o *failover.ControllerOptions) {
		if i == 1 {
			o.ProxyURL = proxy
		}
	}})
	if _, err := c.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		cl := read(t, c.Store())
		for i, n := range c.Nodes() {
			m := cl.Member(n.Name)
			if m == nil {
				return fmt.Errorf("no member key for %s", n.Name)
			}
			if want := map[bool]string{true: proxy}[i == 1]; m.ProxyURL != want {
				return fmt.Errorf("%s's proxy_url %q, want %q", n.Name, m.ProxyURL, want)
			}
		}
		return nil
	}, "proxy_url in the member keys")
	if _, err := failover.NewController(failover.ControllerOptions{Name: "x", Scope: "s", Store: c.Store(),
		Instance: c.Nodes()[0].Server, ConnURL: "postgres://h:5432/postgres", APIURL: "http://h:8008/patroni", ProxyURL: "not a url"}); err == nil {
		t.Error("a ProxyURL that is no URL was accepted")
	}
}
