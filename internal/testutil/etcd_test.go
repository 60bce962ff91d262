package testutil

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const opTimeout = 5 * time.Second

func put(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	Eventually(t, 15*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_, err := cli.Put(ctx, key, val)
		return err
	}, "put %s", key)
}

// get is a linearizable read with its own deadline.
func get(cli *clientv3.Client, key string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("%s not found", key)
	}
	return string(resp.Kvs[0].Value), nil
}

func wantValue(key, want string, cli *clientv3.Client) func() error {
	return func() error {
		got, err := get(cli, key, opTimeout)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s = %q, want %q", key, got, want)
		}
		return nil
	}
}

func TestEtcdSingleMember(t *testing.T) {
	c := StartEtcd(t, 1)
	if got := c.WaitLeader(t); got != 0 {
		t.Fatalf("leader = %d, want 0", got)
	}
	cli := c.Client(t)
	put(t, cli, "k", "v")
	Eventually(t, 10*time.Second, wantValue("k", "v", cli), "read back")
	if eps := c.Endpoints(); len(eps) != 1 || eps[0] != c.Endpoint(0) {
		t.Fatalf("Endpoints() = %v, want [%s]", eps, c.Endpoint(0))
	}
}

func TestEtcdLeaderLoss(t *testing.T) {
	c := StartEtcd(t, 3)
	cli := c.Client(t)
	put(t, cli, "k", "v0")
	Eventually(t, 10*time.Second, wantValue("k", "v0", cli), "read back")

	tests := []struct {
		name string
		stop func(*EtcdCluster, testing.TB, int)
	}{
		{"kill", (*EtcdCluster).Kill},
		{"graceful stop", (*EtcdCluster).Stop},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := c.WaitLeader(t)
			start := time.Now()
			tt.stop(c, t, old)
			if slices.Contains(c.Endpoints(), c.Endpoint(old)) {
				t.Fatalf("Endpoints() = %v still lists stopped member %d", c.Endpoints(), old)
			}
			leader := c.WaitLeader(t)
			t.Logf("%s of leader %d: member %d leads after %v", tt.name, old, leader, time.Since(start))
			if leader == old {
				t.Fatalf("stopped member %d is still the leader", old)
			}
			val := fmt.Sprintf("v%d", n+1)
			put(t, cli, "k", val)

			c.Restart(t, old)
			// A linearizable read through the restarted member sees the
			// write it missed: it rejoined.
			own := c.ClientFor(t, c.Endpoint(old))
			Eventually(t, 15*time.Second, wantValue("k", val, own), "read through restarted member %d", old)
			c.WaitLeader(t)
		})
	}
}

func TestEtcdIsolate(t *testing.T) {
	c := StartEtcd(t, 3)
	cli := c.Client(t)
	put(t, cli, "k", "before")

	tests := []struct {
		name   string
		target func(leader int) int
	}{
		{"follower", func(leader int) int { return (leader + 1) % 3 }},
		{"leader", func(leader int) int { return leader }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := tt.target(c.WaitLeader(t))
			own := c.ClientFor(t, c.Endpoint(i))
			var others []string
			for j := range c.Size() {
				if j != i {
					others = append(others, c.Endpoint(j))
				}
			}
			rest := c.ClientFor(t, others...)

			c.Isolate(t, i)
			_, err := get(own, "k", 1500*time.Millisecond)
			if err == nil {
				t.Fatalf("linearizable read through isolated member %d succeeded", i)
			}
			t.Logf("read through isolated member %d: %v", i, err)

			leader := c.WaitLeader(t)
			if leader == i {
				t.Fatalf("isolated member %d counted as leader", i)
			}
			val := "during-" + tt.name
			put(t, rest, "k", val)
			Eventually(t, 10*time.Second, wantValue("k", val, rest), "read through the majority")
			if _, err := get(own, "k", 500*time.Millisecond); err == nil {
				t.Fatalf("isolated member %d served a linearizable read", i)
			}

			c.Heal(t, i)
			Eventually(t, 15*time.Second, wantValue("k", val, own), "read through healed member %d", i)
			c.WaitLeader(t)
		})
	}
}

func TestEtcdNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("use", func(t *testing.T) {
		c := StartEtcd(t, 3)
		put(t, c.Client(t), "k", "v")
		c.Kill(t, c.WaitLeader(t))
		c.Isolate(t, c.WaitLeader(t)) // left isolated: cleanup must cope
	})
	Eventually(t, 15*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		return nil
	}, "goroutines after etcd cleanup")
}

func TestEtcdBadInput(t *testing.T) {
	for _, n := range []int{-1, 0, 8} {
		failed, msg := newFakeTB(t).run(func(tb testing.TB) { StartEtcd(tb, n) })
		if !failed {
			t.Errorf("StartEtcd(%d) did not fail the test", n)
		}
		t.Logf("StartEtcd(%d): %s", n, msg)
	}
}
