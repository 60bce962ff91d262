package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// bench is a running local cluster with what the scenarios need to
// observe it: a direct etcd client for the leader key and the timeouts.
type bench struct {
	c       *localcluster.Cluster
	etcd    *clientv3.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
	// writerTimeout bounds each connect and insert of the writer.
	writerTimeout time.Duration
	log           *slog.Logger
	// writerDSN, when set, is where the writer writes instead of the
	// cluster's HAProxy (the guides' scenarios); guide is that HAProxy.
	writerDSN string
	guide     *guideProxy
}

// leaderKey is the full etcd key of the leader lock.
func (b *bench) leaderKey() string { return b.prefix + dcs.KeyLeader }

// waitHealthy waits until one leader serves /primary and every running
// node replicates from it.
func (b *bench) waitHealthy(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	leader, err := b.c.WaitHealthy(ctx)
	if err != nil {
		return "", fmt.Errorf("cluster not healthy: %w", err)
	}
	return leader, nil
}

// startWriter starts a writer through HAProxy and waits until it has a
// few acknowledged writes, so the fault hits a writer in full swing.
func (b *bench) startWriter(ctx context.Context) (*localcluster.Writer, error) {
	w, err := b.c.StartWriter(ctx, localcluster.WriterOptions{DSN: b.writerDSN, Timeout: b.writerTimeout, Logger: b.log})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err = localcluster.Poll(wctx, 10*time.Millisecond, func() error {
		if n := len(w.Acks()); n < 50 {
			return fmt.Errorf("only %d writes acknowledged through HAProxy", n)
		}
		return nil
	})
	if err != nil {
		w.Stop()
		return nil, fmt.Errorf("writer: %w", err)
	}
	return w, nil
}

// ackAfter waits for the first write acknowledged after at.
func (b *bench) ackAfter(ctx context.Context, w *localcluster.Writer, at time.Time) (localcluster.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return w.WaitAckAfter(ctx, at)
}

// begin starts one repetition: it waits for a healthy cluster, records
// its leader in rep, runs prepare with it (when not nil: what the
// scenario reads before the writes start) and starts the writer and the
// leader watch, which the caller stops.
func (b *bench) begin(ctx context.Context, rep *Rep, prepare func(leader string) error) (string, *localcluster.Writer, *localcluster.LeaderWatch, error) {
	leader, err := b.waitHealthy(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	rep.Leader = leader
	if b.guide != nil {
		// With the guides' slow checks HAProxy may still count the
		// previous primary up: start from one routable server.
		if err := b.waitGuideSettled(ctx, b.guide); err != nil {
			return "", nil, nil, err
		}
	}
	if prepare != nil {
		if err := prepare(leader); err != nil {
			return "", nil, nil, err
		}
	}
	w, err := b.startWriter(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	lw, err := localcluster.WatchLeader(ctx, b.etcd, b.leaderKey())
	if err != nil {
		w.Stop()
		return "", nil, nil, err
	}
	return leader, w, lw, nil
}

// awaitLeader waits until the leader key names a member that accept
// accepts and returns it with the time the watch saw it take the key
// after since (the time polling saw it, if the watch missed it).
func (b *bench) awaitLeader(ctx context.Context, lw *localcluster.LeaderWatch, since time.Time, accept func(name string) bool) (string, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	name, at, err := b.c.WaitLeader(ctx, accept)
	if err != nil {
		return "", time.Time{}, err
	}
	if ev, ok := lw.First(since, func(n string) bool { return n == name }); ok {
		at = ev.At
	}
	return name, at, nil
}

// firstWrite waits for the first write acknowledged after recovered (what
// names the recovery in the error) and records in rep the longest write
// gap from the fault at faultAt to it.
func (b *bench) firstWrite(ctx context.Context, w *localcluster.Writer, rep *Rep, faultAt, recovered time.Time, what string) (localcluster.Ack, error) {
	first, err := b.ackAfter(ctx, w, recovered)
	if err != nil {
		return first, fmt.Errorf("no write through HAProxy after %s: %w", what, err)
	}
	if g, ok := localcluster.LongestGap(w.Acks(), faultAt, first.At); ok {
		rep.Unavailable = secs(g.Duration())
	}
	return first, nil
}

// record stops the writer and records in rep the acknowledged writes and
// those missing on the current primary.
func (b *bench) record(ctx context.Context, w *localcluster.Writer, rep *Rep) error {
	res, err := b.verify(ctx, w)
	if err != nil {
		return err
	}
	rep.Acked, rep.Lost = res.Acked, res.Lost
	return nil
}

// verify stops the writer and counts acknowledged writes missing on the
// current primary.
func (b *bench) verify(ctx context.Context, w *localcluster.Writer) (localcluster.VerifyResult, error) {
	w.Stop()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var res localcluster.VerifyResult
	err := localcluster.Poll(ctx, 200*time.Millisecond, func() error {
		var err error
		res, err = b.c.Verify(ctx, w)
		return err
	})
	return res, err
}

// replicaOf returns a running node other than leader.
func (b *bench) replicaOf(leader string) (string, error) {
	for _, n := range b.c.Nodes() {
		if n.Name() != leader && n.Running() {
			return n.Name(), nil
		}
	}
	return "", fmt.Errorf("no running replica besides %s", leader)
}
