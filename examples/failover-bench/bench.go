package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	http          *http.Client
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
	w, err := b.c.StartWriter(ctx, localcluster.WriterOptions{Timeout: b.writerTimeout, Logger: b.log})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err = poll(wctx, 10*time.Millisecond, func() error {
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

// verify stops the writer and counts acknowledged writes missing on the
// current primary.
func (b *bench) verify(ctx context.Context, w *localcluster.Writer) (localcluster.VerifyResult, error) {
	w.Stop()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var res localcluster.VerifyResult
	err := poll(ctx, 200*time.Millisecond, func() error {
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

// patchConfig applies a JSON merge patch to the dynamic configuration
// through the leader's PATCH /config and waits until every running agent
// has republished its member key since (each does so after reading the
// configuration, at least every loop_wait).
func (b *bench) patchConfig(ctx context.Context, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var rev int64
	err = poll(ctx, 200*time.Millisecond, func() error {
		leader, err := b.c.Leader(ctx)
		if err != nil || b.c.Node(leader) == nil {
			return fmt.Errorf("no leader (%v)", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, b.c.Node(leader).APIURL()+"/config", bytes.NewReader(body))
		if err != nil {
			return err
		}
		user, pw := b.c.APIAuth()
		req.SetBasicAuth(user, pw)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.http.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PATCH /config: %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		got, err := b.etcd.Get(ctx, b.prefix+dcs.KeyConfig)
		if err != nil {
			return err
		}
		rev = got.Header.Revision
		return nil
	})
	if err != nil {
		return fmt.Errorf("patch config %s: %w", body, err)
	}
	err = poll(ctx, 100*time.Millisecond, func() error {
		got, err := b.etcd.Get(ctx, b.prefix+dcs.KeyMembersPrefix, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, kv := range got.Kvs {
			if kv.ModRevision > rev {
				seen[strings.TrimPrefix(string(kv.Key), b.prefix+dcs.KeyMembersPrefix)] = true
			}
		}
		for _, n := range b.c.Nodes() {
			if n.Running() && !seen[n.Name()] {
				return fmt.Errorf("%s has not republished its member key since the change", n.Name())
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("config %s not picked up: %w", body, err)
	}
	return nil
}

// primaryStatus returns the status code of GET /primary on a node's API,
// 0 when the request failed.
func (b *bench) primaryStatus(ctx context.Context, name string) int {
	n := b.c.Node(name)
	if n == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+"/primary", nil)
	if err != nil {
		return 0
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// poll runs cond every interval until it returns nil or ctx ends; the
// error then includes the last failure.
func poll(ctx context.Context, every time.Duration, cond func() error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
