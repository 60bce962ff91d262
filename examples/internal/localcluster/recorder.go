package localcluster

import (
	"context"
	"log/slog"
	"time"
)

// RecorderOptions configure [Cluster.StartRecorder]; zero values take the
// [WriterOptions] defaults (an insert every 10 ms, 1 s timeout).
type RecorderOptions struct {
	Interval time.Duration
	Timeout  time.Duration
	Logger   *slog.Logger
}

// Recorder is the write recorder of the fault scenarios: one [Writer]
// through HAProxy's read-write listener and one connected directly to
// each node's PostgreSQL, sharing one id sequence and one table. Every
// acknowledged write is recorded with its window [Sent, At] and the node
// that acknowledged it, which is what [FindTwoWriters] (two writable
// nodes), [LongestGap] (write outage, through HAProxy and directly) and
// [Cluster.VerifyAcks] (lost writes) judge.
type Recorder struct {
	proxy  *Writer
	direct []*Writer
}

// StartRecorder creates the table if needed and starts the writers; Stop
// ends them.
func (c *Cluster) StartRecorder(ctx context.Context, o RecorderOptions) (*Recorder, error) {
	ids, err := c.prepareWrites(ctx, c.ReadWriteDSN())
	if err != nil {
		return nil, err
	}
	wo := WriterOptions{Interval: o.Interval, Timeout: o.Timeout, Logger: o.Logger}
	r := &Recorder{}
	if r.proxy, err = c.startWriter(ctx, wo, ids); err != nil {
		return nil, err
	}
	for _, n := range c.nodes {
		wo.Node = n.name
		w, err := c.startWriter(ctx, wo, ids)
		if err != nil {
			r.Stop()
			return nil, err
		}
		r.direct = append(r.direct, w)
	}
	return r, nil
}

// Stop stops every writer and waits for them; it is idempotent.
func (r *Recorder) Stop() {
	if r.proxy != nil {
		r.proxy.Stop()
	}
	for _, w := range r.direct {
		w.Stop()
	}
}

// Proxy is the writer through HAProxy.
func (r *Recorder) Proxy() *Writer { return r.proxy }

// Direct returns the writers connected directly to a node, in node order.
func (r *Recorder) Direct() []*Writer { return append([]*Writer(nil), r.direct...) }

// ProxyAcks returns the writes acknowledged through HAProxy.
func (r *Recorder) ProxyAcks() []Ack { return r.proxy.Acks() }

// DirectAcks returns the writes acknowledged by the direct writers,
// merged in acknowledgement order: the write availability of whichever
// node accepted writes.
func (r *Recorder) DirectAcks() []Ack {
	lists := make([][]Ack, 0, len(r.direct))
	for _, w := range r.direct {
		lists = append(lists, w.Acks())
	}
	return MergeAcks(lists...)
}

// Acks returns every acknowledged write, in acknowledgement order.
func (r *Recorder) Acks() []Ack { return MergeAcks(r.ProxyAcks(), r.DirectAcks()) }

// Errors returns the failed attempts through HAProxy and directly (the
// direct writers to replicas fail on every attempt: they are read-only).
func (r *Recorder) Errors() (proxy, direct int) {
	for _, w := range r.direct {
		direct += w.Errors()
	}
	return r.proxy.Errors(), direct
}
