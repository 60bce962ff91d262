package sim

import (
	"time"

	"github.com/pgha/pgha/dcs/memory"
)

// faultKind is one kind of injected fault.
type faultKind int

const (
	// faultNodeCrash: agent and PostgreSQL die; the machine reboots at
	// heal (PostgreSQL stays down until the agent starts it).
	faultNodeCrash faultKind = iota
	// faultPGCrash: PostgreSQL crashes and cannot start until heal.
	faultPGCrash
	// faultFreeze: the agent stops (no HA loop, no keepalives, no answers)
	// while PostgreSQL keeps running: the false-failover case.
	faultFreeze
	// faultDCSUnreachable: the node's DCS calls fail at once.
	faultDCSUnreachable
	// faultDCSSlow: the node's DCS calls are delayed, sometimes beyond the
	// request timeout.
	faultDCSSlow
	// faultReplSlow: WAL shipping to the node is seconds late, so it lags.
	faultReplSlow
	numFaultKinds
)

var faultNames = [...]string{"node crash", "postgres crash", "agent freeze", "dcs unreachable", "dcs slow", "replication slow"}

func (k faultKind) String() string { return faultNames[k] }

// scheduleFaults draws the whole fault schedule from the seed up front.
func (s *Sim) scheduleFaults() {
	t := s.start.Add(s.cfg.Warmup)
	for {
		t = t.Add(time.Duration(s.rng.ExpFloat64() * float64(s.cfg.MeanFaultGap)))
		if !t.Before(s.faultsEnd) {
			return
		}
		kind := faultKind(s.rng.IntN(int(numFaultKinds)))
		leaderBias := s.rng.IntN(2) == 0
		idx := s.rng.IntN(len(s.nodes))
		d := between(s.rng, time.Second, s.cfg.MaxFaultDuration)
		delay := between(s.rng, 200*time.Millisecond, s.cfg.RequestTimeout+s.cfg.RequestTimeout/4)
		lat := between(s.rng, 2*time.Second, 8*time.Second)
		s.at(t, func() {
			n := s.nodes[idx]
			if leaderBias && s.leader != nil {
				if l := s.byName(s.leader.Name); l != nil {
					n = l
				}
			}
			if kind == faultReplSlow && s.leader != nil && n.name == s.leader.Name {
				n = s.nodes[(idx+1)%len(s.nodes)] // slow shipping to the primary means nothing
			}
			if n.faulted {
				return
			}
			s.inject(n, kind, d, delay, lat)
		})
	}
}

// inject starts a fault on n that heals after d (at the latest when the
// fault window ends).
func (s *Sim) inject(n *node, kind faultKind, d, delay, lat time.Duration) {
	s.stats.Faults++
	n.faulted = true
	healAt := s.now.Add(d)
	if healAt.After(s.faultsEnd) {
		healAt = s.faultsEnd
	}
	s.logf("FAULT %s on %s for %v", kind, n.name, healAt.Sub(s.now))
	heal := func() {}
	switch kind {
	case faultNodeCrash:
		s.crashAgent(n)
		s.pgCrash(n)
		heal = func() {
			if n.agent == nil {
				s.startAgent(n)
			}
		}
	case faultPGCrash:
		s.pgCrash(n)
		n.pg.unstartableUntil = healAt
	case faultFreeze:
		if a := n.agent; a != nil {
			a.frozen = true
		}
		heal = func() { s.thaw(n) }
	case faultDCSUnreachable:
		n.store.SetFault(memory.Fault{Unavailable: true})
		heal = func() { n.store.SetFault(memory.Fault{}) }
	case faultDCSSlow:
		n.dcsDelay = delay
		heal = func() { n.dcsDelay = 0 }
	case faultReplSlow:
		n.replLatency, n.replSlowUntil = lat, healAt
	}
	s.at(healAt, func() {
		if !n.faulted {
			return
		}
		n.faulted = false
		s.logf("HEAL %s on %s", kind, n.name)
		heal()
	})
}

// crashAgent kills n's agent: its coroutines end, its lease lives on in
// the DCS until it expires.
func (s *Sim) crashAgent(n *node) {
	a := n.agent
	if a == nil {
		return
	}
	n.agent = nil
	a.ka.kill()
	a.ha.kill()
	s.logf("%s agent crashed", n.name)
}

// thaw resumes a frozen agent: what it missed runs now.
func (s *Sim) thaw(n *node) {
	a := n.agent
	if a == nil || !a.frozen {
		return
	}
	a.frozen = false
	ps := a.postponed
	a.postponed = nil
	for _, p := range ps {
		if !p.dead {
			p.scheduleAt(s.now)
		}
	}
}

// healAll ends every fault when the fault window closes.
func (s *Sim) healAll() {
	s.logf("fault window over: healing everything")
	for _, n := range s.nodes {
		n.faulted = false
		if n.agent == nil {
			s.startAgent(n)
		}
		s.thaw(n)
		n.store.SetFault(memory.Fault{})
		n.dcsDelay = 0
		n.pg.unstartableUntil = s.now
		n.replSlowUntil = s.now
	}
}
