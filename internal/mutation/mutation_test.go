package mutation

import (
	"context"
	"testing"
)

func TestWithOn(t *testing.T) {
	ctx := context.Background()
	if On(ctx, KeepKey) {
		t.Fatal("a bare context carries a defect")
	}
	a := With(ctx, KeepKey)
	b := With(a, IgnoreLag)
	for _, tc := range []struct {
		ctx  context.Context
		k    Kind
		want bool
	}{
		{a, KeepKey, true}, {a, IgnoreLag, false}, {b, KeepKey, true}, {b, IgnoreLag, true}, {b, SyncBeforeCatchUp, false},
	} {
		if got := On(tc.ctx, tc.k); got != tc.want {
			t.Errorf("On(%v) = %v, want %v", tc.k, got, tc.want)
		}
	}
}
