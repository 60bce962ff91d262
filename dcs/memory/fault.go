package memory

import "time"

// Fault is what a Store handle suffers when it talks to the cluster, to
// simulate one node cut off from the DCS or seeing it slow. The zero value
// is a healthy connection. Faults apply to calls made after they are set.
type Fault struct {
	// Unavailable makes every call fail at once with dcs.ErrUnavailable
	// (connection refused).
	Unavailable bool
	// Hang makes every call block until its context ends or the request
	// timeout elapses, then fail with dcs.ErrUnavailable (a blackholed
	// network). It takes precedence over Unavailable and Delay.
	Hang bool
	// Delay holds every call for this long on the cluster clock before it
	// is applied; a delay at or beyond the request timeout makes the call
	// time out unapplied.
	Delay time.Duration
}

// SetFault sets the handle's fault. While Unavailable or Hang is set its
// watches deliver nothing; they resume where they were (or with a resync
// snapshot if their buffer overflowed meanwhile) once the fault is cleared,
// as an etcd watch does after reconnecting. Delay does not slow watches.
func (s *Store) SetFault(f Fault) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.fault = f
	for w := range s.watchers {
		w.signal()
	}
}

// SetUnavailable is SetFault(Fault{Unavailable: down}).
func (s *Store) SetUnavailable(down bool) { s.SetFault(Fault{Unavailable: down}) }

// Fault returns the handle's current fault.
func (s *Store) Fault() Fault {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.fault
}
