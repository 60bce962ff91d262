package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pgha/pgha/dcs"
)

// wrap turns a client error into one wrapping the dcs sentinel callers
// branch on, keeping the original error (and a context error, if any) in the
// chain. what names the operation, e.g. `put "leader"`.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case isLeaseNotFound(err):
		return fmt.Errorf("etcd: %s: %w: %w", what, dcs.ErrLeaseLost, err)
	case isUnavailable(err):
		return fmt.Errorf("etcd: %s: %w: %w", what, dcs.ErrUnavailable, err)
	}
	return fmt.Errorf("etcd: %s: %w", what, err)
}

// ctxErr returns the context error err is or wraps, if any.
func ctxErr(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return nil
}

func isLeaseNotFound(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(rpctypes.Error(err), &ee) {
		return ee.Error() == rpctypes.ErrLeaseNotFound.Error()
	}
	return false
}

// isUnavailable reports errors that mean the request did not reach a quorum
// in time: the write may or may not have happened and a retry may succeed.
func isUnavailable(err error) bool {
	if ctxErr(err) != nil || errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(rpctypes.Error(err), &ee) {
		return unavailableCode(ee.Code())
	}
	if st, ok := status.FromError(err); ok {
		// Canceled here is the transport's (client closing, stream reset),
		// not the caller's: that case was handled by ctxErr above.
		return unavailableCode(st.Code()) || st.Code() == codes.Canceled
	}
	return false
}

// unavailableCode lists the gRPC codes etcd uses for "try again": no
// leader, leader changed, raft timeouts, server stopping (Unavailable);
// deadline exceeded; too many requests (ResourceExhausted).
func unavailableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// conflict builds the error of a failed transaction comparison.
func conflict(what string, detail string) error {
	return fmt.Errorf("etcd: %s: %w: %s", what, dcs.ErrConflict, detail)
}
