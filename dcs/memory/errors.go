package memory

import "errors"

// Errors specific to this backend. Calls on a closed Store or Cluster
// return ErrClosed wrapped together with dcs.ErrUnavailable.
var (
	// ErrInvalid means an argument was refused: an empty key, a TTL that is
	// not positive.
	ErrInvalid = errors.New("memory: invalid argument")
	// ErrClosed means the Store or its Cluster was closed.
	ErrClosed = errors.New("memory: closed")
)
