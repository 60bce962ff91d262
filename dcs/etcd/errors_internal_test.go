package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pgha/pgha/dcs"
)

// TestWrapClassification maps the errors the etcd client returns (both as
// raw gRPC statuses and as the client's converted EtcdError values) onto the
// dcs sentinels.
func TestWrapClassification(t *testing.T) {
	sentinels := []error{dcs.ErrConflict, dcs.ErrUnavailable, dcs.ErrLeaseLost, dcs.ErrNotFound}
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"lease not found (grpc)", rpctypes.ErrGRPCLeaseNotFound, dcs.ErrLeaseLost},
		{"lease not found (client)", rpctypes.ErrLeaseNotFound, dcs.ErrLeaseLost},
		{"no leader", rpctypes.ErrGRPCNoLeader, dcs.ErrUnavailable},
		{"no leader (client)", rpctypes.ErrNoLeader, dcs.ErrUnavailable},
		{"leader changed", rpctypes.ErrLeaderChanged, dcs.ErrUnavailable},
		{"raft timeout", rpctypes.ErrGRPCTimeout, dcs.ErrUnavailable},
		{"timeout due to leader fail", rpctypes.ErrTimeoutDueToLeaderFail, dcs.ErrUnavailable},
		{"timeout due to connection lost", rpctypes.ErrTimeoutDueToConnectionLost, dcs.ErrUnavailable},
		{"server stopped", rpctypes.ErrStopped, dcs.ErrUnavailable},
		{"too many requests", rpctypes.ErrTooManyRequests, dcs.ErrUnavailable},
		{"transport unavailable", status.Error(codes.Unavailable, "connection refused"), dcs.ErrUnavailable},
		{"client closing", status.Error(codes.Canceled, "grpc: the client connection is closing"), dcs.ErrUnavailable},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), dcs.ErrUnavailable},
		{"context deadline", context.DeadlineExceeded, dcs.ErrUnavailable},
		{"context canceled", fmt.Errorf("x: %w", context.Canceled), dcs.ErrUnavailable},
		{"no endpoints", clientv3.ErrNoAvailableEndpoints, dcs.ErrUnavailable},
		{"permission denied", rpctypes.ErrPermissionDenied, nil},
		{"auth failed", rpctypes.ErrGRPCAuthFailed, nil},
		{"request too large", rpctypes.ErrRequestTooLarge, nil},
		{"compacted", rpctypes.ErrCompacted, nil},
		{"plain", errors.New("boom"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := wrap("op", tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("wrap lost the original error: %v", got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("wrap(%v) = %v: errors.Is(%v) = %v", tc.err, got, s, errors.Is(got, s))
				}
			}
		})
	}
	if wrap("op", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}
