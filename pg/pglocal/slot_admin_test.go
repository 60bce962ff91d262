package pglocal

import (
	"maps"
	"testing"
	"time"

	"github.com/pgha/pgha/pg"
)

// TestLogicalSlotAndAdvance creates a logical slot in a database (twice:
// the second is not an error) and advances an unused physical slot, as the
// Controller does for a cascading replica's slot on the leader.
func TestLogicalSlotAndAdvance(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	cfg := testConfig(t, "node-slots")
	cfg.Parameters = maps.Clone(testParams)
	cfg.Parameters["wal_level"] = "logical"
	l := newLocal(t, cfg)
	if err := l.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := l.CreateLogicalSlot(ctx, "cdc", "pgoutput", "postgres"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.CreateLogicalSlot(ctx, "Bad", "pgoutput", "postgres"); err == nil {
		t.Fatal("a bad slot name was accepted")
	}
	if err := l.CreateSlot(ctx, "casc"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, l, "CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g")
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AdvanceSlot(ctx, "casc", st.FlushLSN); err != nil {
		t.Fatal(err)
	}
	slots, err := l.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sawLogical, sawAdvanced bool
	for _, s := range slots {
		switch s.Name {
		case "cdc":
			sawLogical = s.Type == "logical" && s.Database == "postgres" && s.Plugin == "pgoutput"
		case "casc":
			sawAdvanced = s.Type == "physical" && s.RestartLSN == st.FlushLSN
		}
	}
	if !sawLogical || !sawAdvanced {
		t.Fatalf("slots %+v (flush %v)", slots, st.FlushLSN)
	}
	// Never backwards.
	if err := l.AdvanceSlot(ctx, "casc", 1); err != nil {
		t.Fatal(err)
	}
}
