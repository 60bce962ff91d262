package memory

import (
	"fmt"
	"sort"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

// lease is a granted lease and the full keys bound to it.
type lease struct {
	id       dcs.LeaseID
	ttl      time.Duration
	deadline time.Time
	keys     map[string]struct{}
}

// grantLocked creates a lease; c.mu must be held.
func (c *Cluster) grantLocked(ttl time.Duration) dcs.LeaseID {
	c.lastLease++
	c.leases[c.lastLease] = &lease{id: c.lastLease, ttl: ttl, deadline: c.clock.Now().Add(ttl), keys: map[string]struct{}{}}
	select { // the new deadline may be the earliest
	case c.wake <- struct{}{}:
	default:
	}
	return c.lastLease
}

// keepAliveLocked renews a lease; c.mu must be held and expiry applied.
func (c *Cluster) keepAliveLocked(id dcs.LeaseID) error {
	l, ok := c.leases[id]
	if !ok {
		return fmt.Errorf("lease %d: %w", id, dcs.ErrLeaseLost)
	}
	l.deadline = c.clock.Now().Add(l.ttl)
	return nil
}

// RenewAllLeases restarts every lease's TTL from now, as etcd does when a
// new raft leader is elected: the new leader cannot know how long ago the
// old one last saw each keepalive, so it grants every lease its full TTL
// again. A leader key can therefore outlive its holder's last keepalive
// by up to a TTL plus the election time; holders that count on their
// local deadline are unaffected, their peers just wait longer. Simulations
// call it to inject that fault.
func (c *Cluster) RenewAllLeases() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	now := c.clock.Now()
	for _, l := range c.leases {
		l.deadline = now.Add(l.ttl)
	}
	select { // the earliest deadline moved
	case c.wake <- struct{}{}:
	default:
	}
}

// revokeLocked ends a lease, deleting its keys in one revision; c.mu must
// be held. An unknown lease is ignored.
func (c *Cluster) revokeLocked(id dcs.LeaseID) {
	l, ok := c.leases[id]
	if !ok {
		return
	}
	delete(c.leases, id)
	if len(l.keys) == 0 {
		return
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c.rev++
	evs := make([]event, 0, len(keys))
	for _, k := range keys {
		evs = append(evs, c.removeLocked(k))
	}
	c.publishLocked(evs)
}

// expireLocked revokes every lease whose deadline has been reached, in
// deadline order (ties by ID); c.mu must be held.
func (c *Cluster) expireLocked() {
	if len(c.leases) == 0 {
		return
	}
	now := c.clock.Now()
	var due []*lease
	for _, l := range c.leases {
		if !now.Before(l.deadline) {
			due = append(due, l)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].deadline.Equal(due[j].deadline) {
			return due[i].deadline.Before(due[j].deadline)
		}
		return due[i].id < due[j].id
	})
	for _, l := range due {
		c.log.Debug("memory: lease expired", "lease", int64(l.id), "ttl", l.ttl, "keys", len(l.keys))
		c.revokeLocked(l.id)
	}
}

// nextDeadlineLocked returns the earliest lease deadline; c.mu must be held.
func (c *Cluster) nextDeadlineLocked() (time.Time, bool) {
	var next time.Time
	found := false
	for _, l := range c.leases {
		if !found || l.deadline.Before(next) {
			next, found = l.deadline, true
		}
	}
	return next, found
}

// expiryLoop expires leases when the clock reaches their deadlines, so
// watchers see the deletes even when nobody calls the store. It keeps at
// most one timer armed on the clock.
func (c *Cluster) expiryLoop() {
	defer close(c.loopDone)
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		c.expireLocked()
		next, ok := c.nextDeadlineLocked()
		var tc <-chan time.Time
		if ok {
			d := next.Sub(c.clock.Now())
			if timer == nil {
				timer = c.clock.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C()
		} else if timer != nil {
			timer.Stop()
		}
		c.mu.Unlock()
		select {
		case <-tc:
		case <-c.wake:
		case <-c.done:
			return
		}
	}
}
