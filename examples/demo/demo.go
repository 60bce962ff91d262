package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pgha/pgha/examples/internal/listing"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// Bounds of the demo's waits.
const (
	healthyTimeout  = 2 * time.Minute
	failoverTimeout = 60 * time.Second
	writeWarmup     = 2 * time.Second
)

// demo runs the scenario. Everything it starts is stopped before it
// returns, whatever happens.
func demo(ctx context.Context, p *printer, o demoOptions) (err error) {
	p.say("pgha demo: etcd + 3 agents with PostgreSQL 15 + HAProxy, all on 127.0.0.1")
	bin := o.agentBin
	if bin == "" {
		tmp, err := os.MkdirTemp("", "pgha-demo-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		p.say("building pgha-agent")
		if bin, err = localcluster.BuildAgent(ctx, tmp); err != nil {
			return err
		}
	}

	c, err := localcluster.Start(ctx, localcluster.Options{AgentBin: bin, Nodes: 3, Scope: "demo", KeepDir: o.keepDir, Logger: p.logger()})
	if err != nil {
		return errorf("start", err)
	}
	defer func() {
		p.say("cleaning up: stopping agents, PostgreSQL, HAProxy and etcd")
		if cerr := c.Close(); cerr != nil {
			p.say("cleanup: %v", cerr)
			if err == nil {
				err = cerr
			}
		}
		if o.keepDir {
			p.say("work directory kept: %s", c.Dir())
		}
	}()

	p.say("waiting for the cluster: one node bootstraps, the others clone it and stream")
	leader, err := waitHealthy(ctx, c)
	if err != nil {
		return err
	}
	p.say("cluster healthy: leader %s; HAProxy read-write %s, read-only %s", leader, c.ReadWriteAddr(), c.ReadOnlyAddr())
	if err := showMembers(ctx, p, c); err != nil {
		return err
	}

	w, err := c.StartWriter(ctx, localcluster.WriterOptions{})
	if err != nil {
		return errorf("writer", err)
	}
	defer w.Stop()
	p.say("writer started: one INSERT every 10 ms through HAProxy's read-write port")
	if err := sleep(ctx, writeWarmup); err != nil {
		return err
	}
	p.say("writer: %d writes acknowledged so far", len(w.Acks()))

	p.say("FAULT: killing the primary %s (SIGKILL to its agent and its postmaster)", leader)
	fault, err := c.KillNode(ctx, leader)
	if err != nil {
		return errorf("kill", err)
	}
	fctx, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	newLeader, leaderAt, err := c.WaitLeader(fctx, func(n string) bool { return n != "" && n != leader })
	if err != nil {
		return errorf("failover", err)
	}
	p.say("new leader in the DCS: %s", newLeader)
	// After the new leader, not after the fault: a write in flight when
	// the signal was sent may still be acknowledged by the dying primary.
	ack, err := w.WaitAckAfter(fctx, leaderAt)
	if err != nil {
		return errorf("failover", err)
	}
	p.say("first write acknowledged through HAProxy after the failover (id %d, on %s)", ack.ID, ack.Node)
	outage, _ := localcluster.LongestGap(w.Acks(), fault, ack.At)

	ms := func(t time.Time) string { return fmt.Sprintf("%+7d ms", t.Sub(fault).Milliseconds()) }
	var tl strings.Builder
	tl.WriteString("\nTimeline (offsets from the fault):\n")
	lastAck := fmt.Sprintf("  %s  last write acknowledged by %s\n", ms(outage.LastBefore), leader)
	faultLine := fmt.Sprintf("  %s  FAULT: %s killed (agent + postmaster)\n", ms(fault), leader)
	if outage.LastBefore.After(fault) {
		// A write in flight when the signal was sent.
		lastAck, faultLine = faultLine, lastAck
	}
	tl.WriteString(lastAck + faultLine)
	fmt.Fprintf(&tl, "  %s  new leader %s in the DCS (the old lease expired, ttl 6 s)\n", ms(leaderAt), newLeader)
	fmt.Fprintf(&tl, "  %s  first write acknowledged through HAProxy\n", ms(ack.At))
	fmt.Fprintf(&tl, "  write unavailability: %d ms (the longest gap between acknowledged writes)\n\n", outage.Duration().Milliseconds())
	p.raw(tl.String())
	if err := showMembers(ctx, p, c); err != nil {
		return err
	}

	p.say("restarting the old primary %s: it rewinds (or re-clones) and follows %s", leader, newLeader)
	if err := c.StartNode(ctx, leader); err != nil {
		return errorf("restart", err)
	}
	if _, err := waitHealthy(ctx, c); err != nil {
		return err
	}
	p.say("%s rejoined as a replica", leader)
	if err := showMembers(ctx, p, c); err != nil {
		return err
	}

	w.Stop()
	res, err := c.Verify(ctx, w)
	if err != nil {
		return errorf("verify", err)
	}
	p.say("verify: %d writes acknowledged, %d found on the primary %s, %d lost", res.Acked, res.Found, res.Primary, res.Lost)
	if res.Lost > 0 {
		p.say("the lost writes were committed on %s but not yet streamed when it died: asynchronous replication allows that "+
			"(bounded by maximum_lag_on_failover = 1 MiB); synchronous_mode: true makes it zero", leader)
	}
	p.say("demo complete")
	return nil
}

// waitHealthy waits for a healthy cluster, bounded by healthyTimeout.
func waitHealthy(ctx context.Context, c *localcluster.Cluster) (string, error) {
	hctx, cancel := context.WithTimeout(ctx, healthyTimeout)
	defer cancel()
	leader, err := c.WaitHealthy(hctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w (agent logs: %s/node*/agent.log; run with -keep to keep them)", err, c.Dir())
	}
	return leader, nil
}

// showMembers prints the member table as `pgha-ctl list` does.
func showMembers(ctx context.Context, p *printer, c *localcluster.Cluster) error {
	cl, err := c.Snapshot(ctx)
	if err != nil {
		return errorf("members", err)
	}
	var b strings.Builder
	b.WriteString("\n")
	if err := listing.WriteMembers(&b, c.Scope(), cl, false, listing.FormatPretty); err != nil {
		return err
	}
	b.WriteString("\n")
	p.raw(b.String())
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
