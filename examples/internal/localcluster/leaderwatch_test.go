package localcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestLeaderWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e, err := startEtcd(ctx, t.TempDir(), 1, etcdTimings{})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })

	const key = "/service/test/leader"
	if _, err := cli.Put(ctx, key, "node1"); err != nil {
		t.Fatal(err)
	}
	lw, err := WatchLeader(ctx, cli, key)
	if err != nil {
		t.Fatalf("WatchLeader: %v", err)
	}
	t.Cleanup(lw.Stop)
	start := time.Now()
	for _, op := range []string{"", "node2", "node1"} { // "" deletes the key
		if op == "" {
			_, err = cli.Delete(ctx, key)
		} else {
			_, err = cli.Put(ctx, key, op)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := Poll(ctx, 10*time.Millisecond, func() error {
		if n := len(lw.Events()); n < 3 {
			return fmt.Errorf("%d events", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("watch: %v", err)
	}

	var names []string
	for _, ev := range lw.Events() {
		names = append(names, ev.Name)
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{"", "node2", "node1"}) {
		t.Errorf("events %q, want the deletion, node2, node1 (not the put before the watch)", names)
	}
	if ev, ok := lw.First(start, func(n string) bool { return n == "node2" }); !ok || ev.Name != "node2" {
		t.Errorf("First(node2) = %+v, %v", ev, ok)
	}
	if _, ok := lw.First(time.Now().Add(time.Hour), func(string) bool { return true }); ok {
		t.Error("First found an event after the last one")
	}
	if got := lw.OtherThan("node1"); len(got) != 2 || got[0].Name != "" || got[1].Name != "node2" {
		t.Errorf("OtherThan(node1) = %+v, want the deletion and node2", got)
	}
	lw.Stop()
	lw.Stop() // idempotent
}
