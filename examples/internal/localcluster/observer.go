package localcluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Observer records what a fault scenario is judged on, from before the
// fault until Stop: the [Recorder]'s writes (through HAProxy and directly
// on every node), every node's PostgreSQL state (a [StateWatch] every
// 100 ms) and every change of the leader key (a [LeaderWatch]).
// [Cluster.RunEtcdFault] and the end-to-end scenarios share it.
type Observer struct {
	c   *Cluster
	rec *Recorder
	sw  *StateWatch
	lw  *LeaderWatch

	stopOnce sync.Once
}

// StartObserver starts the recorder, waits (up to timeout) until writes
// have been acknowledged through HAProxy and directly by primary, so that
// a fault hits writers in full swing, then starts the leader watch and the
// state probes and waits until every node was probed once, so that the
// recording holds each node's state from before the fault. Stop ends them
// all.
func (c *Cluster) StartObserver(ctx context.Context, primary string, timeout time.Duration) (*Observer, error) {
	rec, err := c.StartRecorder(ctx, RecorderOptions{})
	if err != nil {
		return nil, err
	}
	o := &Observer{c: c, rec: rec}
	if err := c.waitRecorded(ctx, rec, primary, timeout); err != nil {
		o.Stop()
		return nil, err
	}
	if o.lw, err = WatchLeader(ctx, c.store.Client(), c.store.Prefix()+dcs.KeyLeader); err != nil {
		o.Stop()
		return nil, err
	}
	o.sw = c.WatchStates(ctx, 100*time.Millisecond)
	err = poll(ctx, timeout, 10*time.Millisecond, func() error {
		if n := o.sw.ProbedNodes(); n < len(c.nodes) {
			return fmt.Errorf("localcluster: %d of %d nodes probed", n, len(c.nodes))
		}
		return nil
	})
	if err != nil {
		o.Stop()
		return nil, err
	}
	return o, nil
}

// Stop ends the writers, the probes and the watch, and waits for them; it
// is idempotent. The recordings stay readable.
func (o *Observer) Stop() {
	o.stopOnce.Do(func() {
		o.rec.Stop()
		if o.sw != nil {
			o.sw.Stop()
		}
		if o.lw != nil {
			o.lw.Stop()
		}
	})
}

// Recorder is the write recorder.
func (o *Observer) Recorder() *Recorder { return o.rec }

// LeaderWatch is the leader key's watch.
func (o *Observer) LeaderWatch() *LeaderWatch { return o.lw }

// Recording returns what was recorded so far (call Stop first for all of
// it).
func (o *Observer) Recording() Recording {
	return Recording{Proxy: o.rec.ProxyAcks(), Direct: o.rec.DirectAcks(), States: o.sw.States(), WAL: o.sw.WAL(), LeaderEvents: o.lw.Events()}
}

// Analyze judges the recording ([Analyze]) for a fault whose consequences
// lie within [from, until] while leader held the leader key.
func (o *Observer) Analyze(leader string, from, until time.Time) Analysis {
	return Analyze(o.Recording(), leader, from, until)
}

// Verify reads the acknowledged writes back from the current primary
// ([Cluster.VerifyAcks]), retrying every 200 ms while the primary is still
// settling (HAProxy, a restart) until ctx ends. Call Stop first for a
// complete answer.
func (o *Observer) Verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	err := Poll(ctx, 200*time.Millisecond, func() error {
		var err error
		res, err = o.c.VerifyAcks(ctx, o.rec.Acks())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("localcluster: verify acknowledged writes: %w", err)
	}
	return res, nil
}

// WaitWrites waits until writes sent after at have been acknowledged both
// through HAProxy and directly by node ("" for any node), until at+bound:
// the cluster takes writes again after a fault at at. It returns the later
// of the two first such acknowledgements.
func (o *Observer) WaitWrites(ctx context.Context, node string, at time.Time, bound time.Duration) (Ack, error) {
	ctx, cancel := context.WithDeadline(ctx, at.Add(bound))
	defer cancel()
	var last Ack
	err := Poll(ctx, 10*time.Millisecond, func() error {
		proxy, okP := FirstAck(o.rec.ProxyAcks(), node, at)
		direct, okD := FirstAck(o.rec.DirectAcks(), node, at)
		if !okP || !okD {
			who := "any node"
			if node != "" {
				who = node
			}
			return fmt.Errorf("a write sent after %s acknowledged by %s: through HAProxy %v, directly %v", clock(at), who, okP, okD)
		}
		last = proxy
		if direct.At.After(proxy.At) {
			last = direct
		}
		return nil
	})
	return last, err
}

// FirstAck returns the first acknowledgement (in the order of acks) of a
// write sent after at by node ("" for any node); false when there is none.
func FirstAck(acks []Ack, node string, at time.Time) (Ack, bool) {
	for _, a := range acks {
		if a.Sent.After(at) && (node == "" || a.Node == node) {
			return a, true
		}
	}
	return Ack{}, false
}

// LastAck returns the last acknowledgement (in the order of acks) by node;
// false when node acknowledged nothing.
func LastAck(acks []Ack, node string) (Ack, bool) {
	for i := len(acks) - 1; i >= 0; i-- {
		if acks[i].Node == node {
			return acks[i], true
		}
	}
	return Ack{}, false
}
