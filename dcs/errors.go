package dcs

import "errors"

// Sentinel errors returned (wrapped) by every Store implementation.
var (
	// ErrConflict means a conditional write lost: the key existed when it had
	// to be absent, its revision moved, or the leader term it was guarded by
	// has ended. Retrying the same write cannot succeed.
	ErrConflict = errors.New("dcs: conflict")
	// ErrUnavailable means the store could not be reached or did not answer
	// within the call's deadline. The write may or may not have happened.
	ErrUnavailable = errors.New("dcs: store unavailable")
	// ErrNotFound means the key (or lease) does not exist.
	ErrNotFound = errors.New("dcs: not found")
	// ErrLeaseLost means the lease has expired or was revoked; every key
	// bound to it is gone.
	ErrLeaseLost = errors.New("dcs: lease lost")
)
