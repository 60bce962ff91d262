package election

import (
	"errors"
	"fmt"

	"github.com/pgha/pgha/dcs"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrLeaderExists means another holder has the leader key, so a single
	// acquisition attempt lost. It wraps [dcs.ErrConflict].
	ErrLeaderExists = fmt.Errorf("election: leader key is held: %w", dcs.ErrConflict)
	// ErrNoLease means the candidate has no lease it can vouch for right now
	// (not granted yet, lost, or its local deadline passed while keepalives
	// fail). It wraps [dcs.ErrUnavailable]: retry later.
	ErrNoLease = fmt.Errorf("election: no valid lease: %w", dcs.ErrUnavailable)
	// ErrTermEnded is returned by writes attempted through a [Term] that has
	// ended or whose deadline has passed. It wraps [dcs.ErrConflict], because
	// such a write can never succeed again.
	ErrTermEnded = fmt.Errorf("election: term has ended: %w", dcs.ErrConflict)
	// ErrExpired is the reason of a term whose local deadline passed before
	// a keepalive confirmed the lease.
	ErrExpired = errors.New("election: term deadline passed")
	// ErrSuperseded is the reason of an extended term (see [Term.Extend])
	// replaced by a new term of the same candidate.
	ErrSuperseded = errors.New("election: superseded by a new term")
	// ErrResigned is the reason of a term ended by [Term.Resign].
	ErrResigned = errors.New("election: resigned")
	// errLeaseChanged: the lease a keepalive step worked on was replaced
	// or dropped meanwhile, so its outcome no longer matters.
	errLeaseChanged = errors.New("election: the lease changed meanwhile")
	// ErrClosed is returned by a closed [Candidate], and is the reason of a
	// term ended by [Candidate.Close].
	ErrClosed = errors.New("election: candidate closed")
)
