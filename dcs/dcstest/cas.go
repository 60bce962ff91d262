package dcstest

import (
	"errors"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// testCompareAndSwap checks create-if-absent and mod-revision guards on Put
// and Delete.
func testCompareAndSwap(t *testing.T, b Backend) {
	ctx := testCtx(t)
	s := b.NewStore(t)
	other := b.NewStoreOn(t, s)

	r1 := mustPut(t, ctx, s, "initialize", "7268616322854375442", 0, dcs.Cond{Absent: true})
	if _, err := put(ctx, other, "initialize", "1", 0, dcs.Cond{Absent: true}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("second create-if-absent = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, s, "initialize"); string(kv.Value) != "7268616322854375442" || kv.ModRevision != r1 {
		t.Fatalf("losing create changed the key: %+v", kv)
	}

	if _, err := put(ctx, s, "config", "{}", 0, dcs.Cond{ModRevision: r1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("CAS on an absent key = %v, want ErrConflict", err)
	}
	c1 := mustPut(t, ctx, s, "config", `{"ttl":30}`, 0, dcs.Cond{Absent: true})
	c2 := mustPut(t, ctx, other, "config", `{"ttl":20}`, 0, dcs.Cond{ModRevision: c1})
	if c2 <= c1 {
		t.Fatalf("CAS revision %d not above %d", c2, c1)
	}
	if _, err := put(ctx, s, "config", `{"ttl":10}`, 0, dcs.Cond{ModRevision: c1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("CAS with a stale revision = %v, want ErrConflict", err)
	}
	if _, err := put(ctx, s, "config", `{"ttl":10}`, 0, dcs.Cond{Absent: true, ModRevision: c2}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Absent AND ModRevision on an existing key = %v, want ErrConflict", err)
	}
	if kv := mustKV(t, ctx, s, "config"); string(kv.Value) != `{"ttl":20}` || kv.ModRevision != c2 || kv.CreateRevision != c1 {
		t.Fatalf("config = %+v, want value {\"ttl\":20} create %d mod %d", kv, c1, c2)
	}

	if err := del(ctx, s, "config", dcs.Cond{ModRevision: c1}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("Delete with a stale revision = %v, want ErrConflict", err)
	}
	mustKV(t, ctx, s, "config")
	if err := del(ctx, s, "config", dcs.Cond{ModRevision: c2}); err != nil {
		t.Fatalf("Delete with the current revision: %v", err)
	}
	mustAbsent(t, ctx, other, "config")
	if err := del(ctx, s, "config", dcs.Cond{}); err != nil {
		t.Fatalf("unconditional Delete of an absent key = %v, want nil", err)
	}
	if err := del(ctx, s, "config", dcs.Cond{ModRevision: c2}); !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("guarded Delete of an absent key = %v, want ErrConflict", err)
	}
	// Re-creating gives a new create revision.
	c3 := mustPut(t, ctx, s, "config", "{}", 0, dcs.Cond{Absent: true})
	if kv := mustKV(t, ctx, s, "config"); kv.CreateRevision != c3 || c3 <= c2 {
		t.Fatalf("re-created config has create revision %d, want %d (> %d)", kv.CreateRevision, c3, c2)
	}
}
