package localcluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestLoseAndRestoreQuorum kills two of three etcd members (the raft
// leader first), checks that etcd then refuses writes, restarts them and
// checks that it takes writes again.
func TestLoseAndRestoreQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e, err := startEtcd(ctx, t.TempDir(), 3, etcdTimings{})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	put := func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := cli.Put(pctx, "/x", "y")
		return err
	}

	for _, k := range []int{0, 4} {
		if _, _, err := e.LoseQuorum(ctx, k); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("LoseQuorum(%d) = %v, want ErrInvalidOptions", k, err)
		}
	}
	lead, err := e.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	killed, at, err := e.LoseQuorum(ctx, 2)
	if err != nil {
		t.Fatalf("LoseQuorum(2): %v", err)
	}
	if len(killed) != 2 || killed[0] != lead || killed[1] == lead || at.Before(before) {
		t.Fatalf("LoseQuorum(2) = %v at %v, want the leader %d first and another member, after %v", killed, at, lead, before)
	}
	for i := range e.Size() {
		if want := !slices.Contains(killed, i); e.Running(i) != want {
			t.Errorf("member %d running %v, want %v", i, e.Running(i), want)
		}
	}
	if err := put(); err == nil {
		t.Error("a put succeeded with one member of three running")
	}

	restartAt, quorumAt, err := e.RestoreQuorum(ctx, killed)
	if err != nil {
		t.Fatalf("RestoreQuorum: %v", err)
	}
	if restartAt.Before(at) || quorumAt.Before(restartAt) {
		t.Errorf("restart at %v, quorum at %v, fault at %v: out of order", restartAt, quorumAt, at)
	}
	for i := range e.Size() {
		if !e.Running(i) {
			t.Errorf("member %d not running after RestoreQuorum", i)
		}
	}
	if err := Poll(ctx, 100*time.Millisecond, put); err != nil {
		t.Errorf("no put after RestoreQuorum: %v", err)
	}
}

func TestFailsafeProbeActive(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := &failsafeProbe{samples: []failsafeSample{
		{at(0), false}, {at(2), true}, {at(3), true}, {at(5), true}, {at(6), false}, {at(7), false},
	}}
	// Fault at 1, quorum back at 4: active from 2, inactive from 6.
	if on, off := p.active(at(1), at(4)); !on.Equal(at(2)) || !off.Equal(at(6)) {
		t.Errorf("active(1, 4) = %v, %v; want %v, %v", on, off, at(2), at(6))
	}
	// Never active after 5.
	if on, _ := p.active(at(5), at(5)); !on.IsZero() {
		t.Errorf("active(5, 5) reports active at %v", on)
	}
}
