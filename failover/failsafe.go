package failover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// Failsafe mode (failsafe_mode, Patroni's semantics): a primary that cannot
// reach the DCS keeps its term for as long as every member that could take
// the leader key confirms it as leader over the REST API (POST /failsafe);
// each confirmation round extends the term (election.Term.Extend) to one
// ttl minus the election margin from the moment the round was sent. A
// member that confirms records the primary as leader for one ttl from the
// moment it answered, later than the primary's extension ends, and while
// that record stands it does not race for the leader key and is not
// promoted. Why every member and not a quorum is in the package doc.

// failsafeTimeout bounds one confirmation request (Patroni: 2 s), and a
// round is sent in parallel: a round ends well before the extension of the
// previous one.
func (c *Controller) failsafeTimeout() time.Duration {
	return min(2*time.Second, c.eopts().TTL/4)
}

// failsafeTargets is who must confirm this node's leadership: everyone who
// could take the leader key, without this node. That is every member of the
// last failsafe key seen and of the last one this node wrote (the snapshot
// it read may predate its own write, and a member only the newer key lists
// may race), and every member seen, as long as the key is empty, or in
// case a member key appeared that the key does not list yet. Members
// without an API URL are returned in unreachable: they cannot confirm.
func failsafeTargets(cl *dcs.Cluster, written dcs.Failsafe, me string) (targets map[string]string, unreachable []string) {
	all := map[string]string{}
	if cl != nil {
		for _, m := range cl.Members {
			if m != nil && m.Name != "" {
				all[m.Name] = m.APIURL
			}
		}
		for name, url := range cl.Failsafe {
			if url != "" || all[name] == "" {
				all[name] = url
			}
		}
	}
	for name, url := range written {
		if url != "" || all[name] == "" {
			all[name] = url
		}
	}
	delete(all, me)
	targets = map[string]string{}
	for name, url := range all {
		if url == "" {
			unreachable = append(unreachable, name)
			continue
		}
		targets[name] = url
	}
	slices.Sort(unreachable)
	return targets, unreachable
}

// wantFailsafe reports whether a failsafe round is due: failsafe mode on,
// this node holds a term and runs the primary, and the DCS could not be
// read this cycle, or the lease has not been renewed for half its life, or
// the term already runs on confirmations.
func (c *Controller) wantFailsafe(obs Observation, s Settings) (*election.Term, bool) {
	if !s.FailsafeMode || !obs.Local.IsPrimary() {
		return nil, false
	}
	t := c.lead.held()
	if t == nil {
		return nil, false
	}
	stale := t.Deadline().Sub(obs.Now) < (c.eopts().TTL-c.eopts().Margin)/2
	return t, obs.Cluster == nil || stale || t.Extended()
}

// failsafeRound asks every target to confirm this node as leader and, when
// all of them accept, extends t.
func (c *Controller) failsafeRound(ctx context.Context, t *election.Term) {
	c.mu.Lock()
	cl, written := c.b.cluster, c.b.failsafeWritten
	c.mu.Unlock()
	targets, unreachable := failsafeTargets(cl, written, c.o.Name)
	sent := c.clk.Now()
	req := healthapi.FailsafeRequest{Name: c.o.Name, ConnURL: c.o.ConnURL, APIURL: c.o.APIURL, TTL: c.eopts().TTL.Seconds()}
	var (
		mu        sync.Mutex
		failed    = map[string]error{}
		confirmed int
		wg        sync.WaitGroup
	)
	for name, url := range targets {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, c.failsafeTimeout())
			defer cancel()
			_, err := healthapi.PostFailsafe(rctx, c.http, url, c.o.PeerAuth, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[name] = err
			} else {
				confirmed++
			}
		})
	}
	wg.Wait()
	for _, name := range unreachable {
		failed[name] = errors.New("no API URL")
	}
	if cl == nil {
		failed["(cluster)"] = errors.New("the members are unknown: the DCS was never read")
	}
	if len(failed) > 0 && mutation.On(ctx, mutation.FailsafeMajority) && cl != nil && 2*(confirmed+1) > len(targets)+len(unreachable)+1 {
		failed = nil // the defect: a majority is taken for everyone
	}
	if len(failed) > 0 {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(failed)) {
			parts = append(parts, fmt.Sprintf("%s: %v", name, failed[name]))
		}
		c.log.Warn("failover: failsafe: not every member confirmed this primary: it stops before its term deadline",
			"deadline", t.Deadline().Format(time.RFC3339Nano), "confirmed", confirmed, "asked", len(targets)+len(unreachable),
			"failures", strings.Join(parts, "; "))
		return
	}
	until := sent.Add(c.eopts().TTL - c.eopts().Margin)
	was := t.Extended()
	if !t.Extend(until) {
		return
	}
	if !was {
		c.log.Warn("failover: failsafe mode active: the DCS is unreachable and every member confirmed this primary as leader",
			"members", len(targets), "until", until.Format(time.RFC3339Nano))
		c.emit(EventFailsafe, fmt.Sprintf("%d members confirmed; term extended to %s", len(targets), until.Format(time.RFC3339Nano)))
	}
	c.publishState()
}

// failsafeRecover runs once the DCS answers again while the term runs on
// confirmations: a term whose key is gone (it expired while the DCS was
// out of reach) takes the key again on the current lease, so that the
// cycle's guarded writes find it. A key held by another member is left to
// the decision rules (term lost: demote at once).
func (c *Controller) failsafeRecover(ctx context.Context, t *election.Term, cl *dcs.Cluster) {
	if cl == nil || !t.Extended() {
		return
	}
	if l := cl.Leader; l != nil && (l.Name != c.o.Name || l.Revision == t.Token()) {
		return
	}
	c.mu.Lock()
	cand := c.cand
	c.mu.Unlock()
	nt, err := cand.TryAcquire(ctx)
	switch {
	case err != nil:
		c.log.Warn("failover: failsafe: taking the leader key again failed", "err", err)
	case nt != t:
		c.log.Info("failover: failsafe: the DCS is back: took the leader key again", "revision", nt.Token())
		c.lead.set(nt, Decision{Code: CodeFailsafeReacquire})
	}
}

// failsafeStep runs the primary's side of failsafe mode in a cycle, before
// the decision, and updates obs.Term to what it did.
func (c *Controller) failsafeStep(ctx context.Context, obs *Observation, s Settings) {
	t, due := c.wantFailsafe(*obs, s)
	if t == nil {
		return
	}
	if obs.Cluster != nil {
		c.failsafeRecover(ctx, t, obs.Cluster)
	}
	if due {
		c.failsafeRound(ctx, t)
	}
	if tm := c.lead.held(); tm != nil {
		obs.Term = termOf(tm)
	}
}

// AcceptFailsafe answers POST /failsafe ([healthapi.FailsafeManager]): the
// primary req.Name, cut off from the DCS, asks this member to confirm it as
// leader. A member that runs as primary itself refuses with
// [healthapi.ErrRunningAsLeader]; one whose fresh DCS view names another
// leader refuses with [healthapi.ErrFailsafeRefused]. Otherwise it records req.Name as leader for the
// longer of its own ttl and the one the primary extends its term by, from
// now, and returns the end of the WAL it has.
func (c *Controller) AcceptFailsafe(_ context.Context, req healthapi.FailsafeRequest) (int64, error) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.b
	st := b.pgStatus
	if c.lead.current() != nil || (b.pgStatusOK && st.State == pg.StateRunning && st.Role == pg.RolePrimary) {
		return 0, healthapi.ErrRunningAsLeader
	}
	if req.Name == c.o.Name {
		return 0, fmt.Errorf("%w: the request names this member", healthapi.ErrFailsafeRefused)
	}
	ttl := c.eopts().TTL
	if b.cluster != nil && b.cluster.Leader != nil && b.cluster.Leader.Name != req.Name && now.Sub(b.dcsLastSeen) < ttl {
		return 0, fmt.Errorf("%w: %s holds the leader key", healthapi.ErrFailsafeRefused, b.cluster.Leader.Name)
	}
	if d := time.Duration(req.TTL * float64(time.Second)); d > ttl && d < MaxConfigTTL {
		ttl = d
	}
	until := now.Add(ttl)
	if b.failsafeLeader != req.Name || until.After(b.failsafeUntil) {
		if b.failsafeLeader != req.Name {
			c.log.Warn("failover: failsafe: confirmed a primary that cannot reach the DCS as leader: not racing for the leader key while it asks",
				"leader", req.Name, "until", until.Format(time.RFC3339Nano))
		}
		b.failsafeLeader, b.failsafeUntil = req.Name, until
	}
	return max(st.ReceiveLSN.Int64(), st.ReplayLSN.Int64()), nil
}

// failsafeKey is the failsafe key a leader keeps in failsafe mode: every
// member with an API URL, and itself.
func (c *Controller) failsafeKey(cl *dcs.Cluster) dcs.Failsafe {
	f := dcs.Failsafe{}
	for _, m := range cl.Members {
		if m != nil && m.Name != "" {
			f[m.Name] = m.APIURL
		}
	}
	f[c.o.Name] = c.o.APIURL
	return f
}

// writeFailsafeKey keeps the failsafe key in step with the members while
// failsafe mode is on, and deletes it when the mode is off, guarded by the
// term.
func (c *Controller) writeFailsafeKey(ctx context.Context, t *election.Term, cl *dcs.Cluster, s Settings) {
	if cl == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	if !s.FailsafeMode {
		c.mu.Lock()
		c.b.failsafeWritten = nil
		c.mu.Unlock()
		if len(cl.Failsafe) == 0 {
			return
		}
		if err := t.Delete(rctx, dcs.KeyFailsafe, dcs.Cond{}); err != nil && !errors.Is(err, dcs.ErrNotFound) {
			c.countDCSError(err)
			c.log.Warn("failover: deleting the failsafe key failed", "err", err)
		}
		return
	}
	want := c.failsafeKey(cl)
	if maps.Equal(want, cl.Failsafe) {
		c.mu.Lock()
		c.b.failsafeWritten = want
		c.mu.Unlock()
		return
	}
	// Recorded before the write: should the write land but its answer be
	// lost, the members it lists must still be asked.
	c.mu.Lock()
	c.b.failsafeWritten = want
	c.mu.Unlock()
	if _, err := t.Put(rctx, dcs.KeyFailsafe, want.Encode(), dcs.Cond{}); err != nil {
		c.countDCSError(err)
		c.log.Warn("failover: writing the failsafe key failed", "err", err)
	}
}
