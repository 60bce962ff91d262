package dcstest

import (
	"errors"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// testInvalidInput checks that bad arguments get an error, never a panic
// and never a write.
func testInvalidInput(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	if _, err := put(ctx, s, "", "v", 0, dcs.Cond{}); err == nil {
		t.Error("Put with an empty key succeeded")
	}
	if err := del(ctx, s, "", dcs.Cond{}); err == nil {
		t.Error("Delete with an empty key succeeded")
	}
	if _, err := s.Grant(ctx, -b.TTL); err == nil {
		t.Error("Grant with a negative TTL succeeded")
	}
	snap := mustGet(t, ctx, s)
	if len(snap.KVs) != 0 {
		t.Errorf("fresh prefix holds %d keys after rejected writes: %+v", len(snap.KVs), snap.KVs)
	}
	// A lease that was never granted is lost, not a crash.
	if err := keepAlive(ctx, s, 0x7eadbeefcafe); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Errorf("KeepAlive(unknown lease) = %v, want ErrLeaseLost", err)
	}
}
