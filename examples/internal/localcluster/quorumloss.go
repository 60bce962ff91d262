package localcluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// LoseQuorum kills k of the etcd members ([Etcd.Kill]): the raft leader
// first, then the members after it in index order, so that a majority
// killed leaves no leader and no request served. Killing the leader first
// makes the fault the worst case: the survivors cannot even finish the
// requests the leader had accepted. It returns the members killed (the
// order [Etcd.RestoreQuorum] restarts them in) and the time just before
// the first kill. On error the members already killed are returned for
// the caller to restart.
func (e *Etcd) LoseQuorum(ctx context.Context, k int) ([]int, time.Time, error) {
	if k < 1 || k > e.Size() {
		return nil, time.Time{}, fmt.Errorf("%w: kill %d of %d etcd members", ErrInvalidOptions, k, e.Size())
	}
	lead, err := e.WaitLeader(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	victims := []int{lead}
	for i := 1; len(victims) < k && i < e.Size(); i++ {
		if j := (lead + i) % e.Size(); e.Running(j) {
			victims = append(victims, j)
		}
	}
	if len(victims) < k {
		return nil, time.Time{}, fmt.Errorf("%w: only %d etcd members run, cannot kill %d", ErrInvalidOptions, len(victims), k)
	}
	at := time.Now()
	var killed []int
	for _, i := range victims {
		if err := e.Kill(i); err != nil {
			return killed, at, err
		}
		killed = append(killed, i)
	}
	return killed, at, nil
}

// RestoreQuorum restarts the members [Etcd.LoseQuorum] killed, in that
// order, each until it serves. It returns when the first restart began
// and when the running members agreed on a raft leader again after it
// (with 2 of 3 killed the first restart alone brings the quorum back, as
// the return of the first member would in a real outage), measured
// before the remaining members are restarted.
func (e *Etcd) RestoreQuorum(ctx context.Context, killed []int) (restartAt, quorumAt time.Time, err error) {
	restartAt = time.Now()
	for n, i := range killed {
		if err := e.Restart(ctx, i); err != nil {
			return restartAt, quorumAt, err
		}
		if n == 0 {
			if _, err := e.WaitLeader(ctx); err != nil {
				return restartAt, quorumAt, fmt.Errorf("localcluster: etcd leader after restarting member %d: %w", i, err)
			}
			quorumAt = time.Now()
		}
	}
	return restartAt, quorumAt, nil
}

// WaitFailsafeKey waits, with failsafe_mode on, until leader has written
// the failsafe key listing every node of the cluster and serves it on GET
// /failsafe: a primary cut off from the DCS asks the members the key lists
// to confirm it, so a fault injected before it lists everyone tests a
// smaller cluster. Bound it with ctx.
func (c *Cluster) WaitFailsafeKey(ctx context.Context, leader string) error {
	n, err := c.node(leader)
	if err != nil {
		return err
	}
	var want []string
	for _, m := range c.nodes {
		want = append(want, m.name)
	}
	slices.Sort(want)
	err = Poll(ctx, 100*time.Millisecond, func() error {
		snap, err := c.Snapshot(ctx)
		if err != nil {
			return err
		}
		if got := slices.Sorted(maps.Keys(snap.Failsafe)); !slices.Equal(got, want) {
			return fmt.Errorf("failsafe key lists %v, want %v", got, want)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		f, err := c.api(n).Failsafe(rctx)
		cancel()
		if err != nil {
			return fmt.Errorf("GET /failsafe on %s: %w", leader, err)
		}
		if got := slices.Sorted(maps.Keys(f)); !slices.Equal(got, want) {
			return fmt.Errorf("GET /failsafe on %s lists %v, want %v", leader, got, want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("localcluster: failsafe key: %w", err)
	}
	return nil
}

// QuorumLossOptions configure [Cluster.RunQuorumLoss]. Zero values take
// the defaults named, from the cluster's ttl (the config key's, default
// 6 s).
type QuorumLossOptions struct {
	// Kill is how many etcd members are killed; default a majority (2 of
	// 3).
	Kill int
	// Hold is how long etcd stays without its quorum, from the first kill
	// to the first restart; default 2 ttl.
	Hold time.Duration
	// After is how long the recordings run once etcd has its quorum back
	// (and at least until writes are acknowledged again); default 2 ttl,
	// in which a term the outage ended is followed by a new one.
	After time.Duration
	// Timeout bounds every other wait (writers before the fault, etcd's
	// restart, writes and health after it, reading the writes back);
	// default 90 s.
	Timeout time.Duration
}

// QuorumLossRun is what one run of [Cluster.RunQuorumLoss] did. A zero
// time means "did not happen".
type QuorumLossRun struct {
	// Leader is the pgha leader before the fault, LeaderAfter the one once
	// the cluster was healthy again.
	Leader, LeaderAfter string
	// Timeline and TimelineAfter are the cluster timeline (history key)
	// before and after.
	Timeline, TimelineAfter int64
	// TTL is the cluster's ttl, Hold the hold applied.
	TTL, Hold time.Duration
	// Killed are the etcd members killed, the raft leader first.
	Killed []int
	// FaultAt is just before the first kill, RestartAt when the first
	// restart began, QuorumAt when etcd had a raft leader again, Until the
	// end of the window [FaultAt, Until] the write gaps are measured over
	// (QuorumAt + After).
	FaultAt, RestartAt, QuorumAt, Until time.Time
	// FirstProxy and FirstDirect are the first writes sent after QuorumAt
	// and acknowledged through HAProxy and directly (by any node); zero
	// Acks when none was within Timeout.
	FirstProxy, FirstDirect Ack
	// FailsafeActive is when GET /patroni on Leader (probed every 200 ms
	// from the fault until the cluster was healthy again) first reported
	// failsafe_mode_is_active, FailsafeInactive when it first reported it
	// false after QuorumAt (the term bound to its lease again).
	FailsafeActive, FailsafeInactive time.Time
	// OldLastAck is the last write Leader acknowledged (through any
	// writer) between FaultAt and QuorumAt: without failsafe mode, when
	// its fence took effect; zero Ack when none.
	OldLastAck Ack
	// LeaderEvents are the leader key's changes after FaultAt, the
	// leader's own ones (a term reclaimed) included.
	LeaderEvents []LeaderEvent
	// HealthyAt is when the cluster was first healthy again after
	// QuorumAt (waited for once writes were acknowledged again).
	HealthyAt time.Time
	// Analysis judges the whole recording (from before the fault until
	// the cluster was healthy again), with the write gaps over [FaultAt,
	// Until]; Verify is the acknowledged writes read back from the final
	// primary.
	Analysis Analysis
	Verify   VerifyResult
	// ProxyErrors and DirectErrors are the writers' failed attempts.
	ProxyErrors, DirectErrors int
}

// RunQuorumLoss takes etcd's quorum away from the healthy cluster led by
// leader for Hold, under an [Observer]: it kills Kill members
// ([Etcd.LoseQuorum]), waits, restarts them ([Etcd.RestoreQuorum]), waits
// for writes sent after quorum returned to be acknowledged through HAProxy
// and directly and for the cluster to be healthy, records until After past
// the quorum's return, checks the health again, then judges the recordings
// and reads the acknowledged writes back from the primary. Whether
// failsafe_mode is on is the caller's business (the config key; see
// [Cluster.WaitFailsafeKey]).
// An error means the run could not be completed (the members are restarted
// in any case); what the fault did is in the result, as far as it got, for
// the caller to judge.
func (c *Cluster) RunQuorumLoss(ctx context.Context, leader string, o QuorumLossOptions) (QuorumLossRun, error) {
	run := QuorumLossRun{Leader: leader}
	n, err := c.node(leader)
	if err != nil {
		return run, err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return run, err
	}
	run.Timeline = snap.Timeline()
	run.TTL = configTTL(snap)
	e := c.etcd
	if o.Kill <= 0 {
		o.Kill = e.Size()/2 + 1
	}
	if o.Hold <= 0 {
		o.Hold = 2 * run.TTL
	}
	if o.After <= 0 {
		o.After = 2 * run.TTL
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	run.Hold = o.Hold

	obs, err := c.StartObserver(ctx, leader, o.Timeout)
	if err != nil {
		return run, err
	}
	defer obs.Stop()

	pctx, pcancel := context.WithCancel(ctx)
	probe := c.probeFailsafe(pctx, n)
	defer func() {
		pcancel()
		probe.wait()
	}()

	lctx, lcancel := context.WithTimeout(ctx, o.Timeout)
	defer lcancel()
	run.Killed, run.FaultAt, err = e.LoseQuorum(lctx, o.Kill)
	restored := false
	defer func() {
		if restored {
			return
		}
		// Whatever went wrong, the next run needs its etcd back.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, i := range run.Killed {
			if !e.Running(i) {
				_ = e.Restart(rctx, i)
			}
		}
	}()
	if err != nil {
		return run, err
	}
	c.log.Info("localcluster: etcd quorum lost", "killed", run.Killed, "hold", o.Hold)
	if err := sleepUntil(ctx, run.FaultAt.Add(o.Hold)); err != nil {
		return run, err
	}

	rctx, rcancel := context.WithTimeout(ctx, o.Timeout)
	run.RestartAt, run.QuorumAt, err = e.RestoreQuorum(rctx, run.Killed)
	rcancel()
	if err != nil {
		return run, err
	}
	restored = true
	run.Until = run.QuorumAt.Add(o.After)

	// Writable again: a write sent after the quorum returned acknowledged
	// both ways. Not an error when it does not happen: the health wait
	// below fails then, with the reason.
	_, _ = obs.WaitWrites(ctx, "", run.QuorumAt, o.Timeout)
	// Each wait from here on gets the whole Timeout.
	hctx, hcancel := context.WithTimeout(ctx, o.Timeout)
	_, err = c.WaitHealthy(hctx)
	hcancel()
	if err == nil {
		run.HealthyAt = time.Now()
		// The recordings run on until After past the quorum's return,
		// for what happens once the cluster looks healthy (a term given
		// up late); the health is checked again at the end.
		if err = sleepUntil(ctx, run.Until); err == nil {
			hctx, hcancel = context.WithTimeout(ctx, o.Timeout)
			run.LeaderAfter, err = c.WaitHealthy(hctx)
			hcancel()
		}
	}
	obs.Stop()
	pcancel()
	probe.wait()
	run.FailsafeActive, run.FailsafeInactive = probe.active(run.FaultAt, run.QuorumAt)
	rec := obs.Recorder()
	for _, a := range rec.Acks() {
		if a.Node == leader && a.At.After(run.FaultAt) && a.At.Before(run.QuorumAt) {
			run.OldLastAck = a
		}
	}
	for _, ev := range obs.LeaderWatch().Events() {
		if ev.At.After(run.FaultAt) {
			run.LeaderEvents = append(run.LeaderEvents, ev)
		}
	}
	run.FirstProxy, _ = FirstAck(rec.ProxyAcks(), "", run.QuorumAt)
	run.FirstDirect, _ = FirstAck(rec.DirectAcks(), "", run.QuorumAt)
	run.ProxyErrors, run.DirectErrors = rec.Errors()
	run.Analysis = obs.Analyze(leader, run.FaultAt, run.Until)
	if err != nil {
		return run, err
	}
	if snap, err = c.Snapshot(ctx); err != nil {
		return run, err
	}
	run.TimelineAfter = snap.Timeline()
	vctx, vcancel := context.WithTimeout(ctx, o.Timeout)
	defer vcancel()
	run.Verify, err = obs.Verify(vctx)
	return run, err
}

// sleepUntil waits until at or the end of ctx.
func sleepUntil(ctx context.Context, at time.Time) error {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// failsafeProbe records what one node's GET /patroni said of failsafe
// mode, every 200 ms until its context ends.
type failsafeProbe struct {
	done chan struct{}

	mu      sync.Mutex
	samples []failsafeSample
}

// failsafeSample is one answered GET /patroni.
type failsafeSample struct {
	at     time.Time
	active bool
}

// probeFailsafe starts probing node n; cancel ctx and call wait to stop.
func (c *Cluster) probeFailsafe(ctx context.Context, n *Node) *failsafeProbe {
	p := &failsafeProbe{done: make(chan struct{})}
	api := c.api(n)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			at := time.Now()
			// GET /patroni answers 503 on a node that is not running
			// PostgreSQL, with the same document, which Patroni takes.
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			doc, err := api.Patroni(rctx)
			cancel()
			if err == nil {
				p.mu.Lock()
				p.samples = append(p.samples, failsafeSample{at, doc.FailsafeActive})
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// wait waits for the probing to end.
func (p *failsafeProbe) wait() { <-p.done }

// active returns the first probe after from that reported failsafe mode
// active and the first after back that reported it inactive.
func (p *failsafeProbe) active(from, back time.Time) (on, off time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.samples {
		if on.IsZero() && s.active && s.at.After(from) {
			on = s.at
		}
		if off.IsZero() && !s.active && s.at.After(back) {
			off = s.at
		}
	}
	return on, off
}
