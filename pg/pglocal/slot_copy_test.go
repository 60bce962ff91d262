package pglocal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestCheckSlotState rejects state files that would make PostgreSQL refuse
// to start (it PANICs on a bad checksum) or that name another slot.
func TestCheckSlotState(t *testing.T) {
	good := fakeSlotState("cdc")
	if err := checkSlotState("cdc", good); err != nil {
		t.Fatalf("a valid state: %v", err)
	}
	flip := func(i int) []byte { b := slices.Clone(good); b[i] ^= 1; return b }
	for _, tt := range []struct {
		name string
		slot string
		data []byte
		want string
	}{
		{"too short", "cdc", good[:40], "too short"},
		{"bad magic", "cdc", flip(0), "bad magic"},
		{"bad checksum", "cdc", flip(100), "checksum"},
		{"truncated", "cdc", good[:len(good)-1], "length"},
		{"another slot", "other", good, "names slot"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSlotState(tt.slot, tt.data)
			if !errors.Is(err, pg.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidConfig with %q", err, tt.want)
			}
		})
	}
}

// TestLogicalSlotCopy copies a logical slot from a primary to its replica
// on PostgreSQL 15 the way the Controller does for permanent slots: read
// the state file on the primary, install it on the replica (which
// restarts), advance the copy on the standby to the primary's confirmed
// position, and after promotion decode from the copy: only the changes
// written after that position come out.
func TestLogicalSlotCopy(t *testing.T) {
	ctx := ctxT(t, 240*time.Second)
	params := maps.Clone(testParams)
	params["wal_level"] = "logical"
	params["hot_standby_feedback"] = "on"
	pcfg := testConfig(t, "copy-primary")
	pcfg.Parameters = params
	p := newLocal(t, pcfg)
	if err := p.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	rcfg := testConfig(t, "copy-replica")
	rcfg.Parameters = params
	r := newLocal(t, rcfg)
	if err := p.CreateSlot(ctx, pg.SlotName("copy-replica")); err != nil {
		t.Fatal(err)
	}
	if err := r.Clone(ctx, pg.CloneRequest{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	if err := r.Follow(ctx, pg.FollowConfig{Upstream: p.Upstream(), SlotName: pg.SlotName("copy-replica")}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, p, "CREATE TABLE t (v text)")
	if err := p.CreateLogicalSlot(ctx, "cdc", "test_decoding", "postgres"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, p, "INSERT INTO t VALUES ('consumed-before-copy')")
	if got := changes(t, p, "cdc"); !strings.Contains(got, "consumed-before-copy") {
		t.Fatalf("changes on the primary: %q", got)
	}

	copies, err := r.UpstreamSlots(ctx, p.Upstream(), []string{"cdc", pg.SlotName("copy-replica"), "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != 2 || copies[0].Name != "cdc" || copies[1].Name != "copy_replica" {
		t.Fatalf("upstream slots %+v", copies)
	}
	cdc := copies[0]
	if cdc.Type != "logical" || cdc.Database != "postgres" || cdc.Plugin != "test_decoding" || cdc.CatalogXmin == 0 || cdc.ConfirmedFlushLSN == 0 {
		t.Fatalf("logical slot read from the primary: %+v", cdc.Slot)
	}
	if err := checkSlotState("cdc", cdc.State); err != nil {
		t.Fatalf("state file read from the primary: %v", err)
	}
	if copies[1].State != nil {
		t.Fatalf("a physical slot came with a state file")
	}
	if _, err := r.UpstreamSlots(ctx, r.Upstream(), []string{"cdc"}); err == nil || !strings.Contains(err.Error(), "not a primary") {
		t.Fatalf("reading slots of a replica: %v", err)
	}

	// Refusals change nothing.
	if err := p.InstallLogicalSlots(ctx, []pg.SlotCopy{cdc}); !errors.Is(err, pg.ErrNotReplica) {
		t.Fatalf("install on the primary: %v", err)
	}
	bad := cdc
	bad.State = slices.Clone(cdc.State)
	bad.State[len(bad.State)-1] ^= 0xff
	if err := r.InstallLogicalSlots(ctx, []pg.SlotCopy{bad}); !errors.Is(err, pg.ErrInvalidConfig) {
		t.Fatalf("install of a corrupt state: %v", err)
	}
	before, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := r.InstallLogicalSlots(ctx, []pg.SlotCopy{cdc}); err != nil {
		t.Fatal(err)
	}
	after, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Role != pg.RoleReplica || !after.PostmasterStart.After(before.PostmasterStart) {
		t.Fatalf("after install: role %q, postmaster start %v (was %v)", after.Role, after.PostmasterStart, before.PostmasterStart)
	}
	local := slotOf(t, r, "cdc")
	if local.Type != "logical" || local.Database != "postgres" || local.Plugin != "test_decoding" || local.ConfirmedFlushLSN > cdc.ConfirmedFlushLSN {
		t.Fatalf("copied slot on the replica: %+v (primary %+v)", local, cdc.Slot)
	}

	// The consumer moves on; the replica follows with advance.
	mustExec(t, p, "INSERT INTO t VALUES ('consumed-after-copy')")
	if got := changes(t, p, "cdc"); !strings.Contains(got, "consumed-after-copy") {
		t.Fatalf("changes on the primary: %q", got)
	}
	target := slotOf(t, p, "cdc").ConfirmedFlushLSN
	testutil.Eventually(t, 60*time.Second, func() error {
		st, err := r.Status(ctx)
		if err != nil {
			return err
		}
		if st.ReplayLSN < target {
			return fmt.Errorf("replayed %v, want %v", st.ReplayLSN, target)
		}
		return nil
	}, "the replica replays up to the slot's position")
	if err := r.AdvanceLogicalSlot(ctx, "cdc", "postgres", target); err != nil {
		t.Fatalf("advance on the standby: %v", err)
	}
	if got := slotOf(t, r, "cdc").ConfirmedFlushLSN; got != target {
		t.Fatalf("copy at %v after advance, want %v", got, target)
	}
	// Never backwards.
	if err := r.AdvanceLogicalSlot(ctx, "cdc", "postgres", 1); err != nil {
		t.Fatal(err)
	}
	if got := slotOf(t, r, "cdc").ConfirmedFlushLSN; got != target {
		t.Fatalf("copy at %v after advancing to 0/1, want %v", got, target)
	}
	// hot_standby_feedback makes the primary hold the copy's catalog rows.
	testutil.Eventually(t, 30*time.Second, func() error {
		if x := slotOf(t, p, "copy_replica").CatalogXmin; x == 0 || x > slotOf(t, r, "cdc").CatalogXmin {
			return fmt.Errorf("catalog_xmin of the replica's physical slot %d", x)
		}
		return nil
	}, "the replica's physical slot holds catalog_xmin")

	if _, err := r.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, r, "INSERT INTO t VALUES ('after-promotion')")
	got := changes(t, r, "cdc")
	if !strings.Contains(got, "after-promotion") || strings.Contains(got, "consumed-") {
		t.Fatalf("changes from the copy on the promoted replica: %q", got)
	}
}

// changes consumes a slot's changes on l as one string.
func changes(t *testing.T, l *Local, slot string) string {
	t.Helper()
	c := sqlConn(t, l)
	defer c.Close(context.Background())
	rows, err := c.Query(ctxT(t, 30*time.Second), "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)", slot)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

func slotOf(t *testing.T, l *Local, name string) pg.Slot {
	t.Helper()
	slots, err := l.Slots(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no slot %s on %s: %+v", name, l.cfg.Name, slots)
	return pg.Slot{}
}

// fakeSlotState builds a slot state file in PostgreSQL 15's layout.
func fakeSlotState(name string) []byte {
	b := make([]byte, 200)
	binary.NativeEndian.PutUint32(b[0:], slotMagic)
	binary.NativeEndian.PutUint32(b[8:], 2)
	binary.NativeEndian.PutUint32(b[12:], uint32(len(b)-slotConstantSize))
	copy(b[slotNameOffset:], name)
	binary.NativeEndian.PutUint32(b[4:], crc32.Checksum(b[slotNotChecksummed:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestLogicalSlotCopyWALGone refuses, without a restart, to install a copy
// whose restart_lsn is older than the replica's oldest WAL: a slot created
// on the primary before the replica was cloned, its consumer idle.
func TestLogicalSlotCopyWALGone(t *testing.T) {
	ctx := ctxT(t, 240*time.Second)
	params := maps.Clone(testParams)
	params["wal_level"] = "logical"
	params["hot_standby_feedback"] = "on"
	pcfg := testConfig(t, "gone-primary")
	pcfg.Parameters = params
	p := newLocal(t, pcfg)
	if err := p.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateLogicalSlot(ctx, "cdc", "test_decoding", "postgres"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustExec(t, p, "CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS v")
		mustExec(t, p, "SELECT pg_switch_wal()")
	}
	mustExec(t, p, "CHECKPOINT")
	rcfg := testConfig(t, "gone-replica")
	rcfg.Parameters = params
	r := newLocal(t, rcfg)
	if err := r.Clone(ctx, pg.CloneRequest{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	if err := r.Follow(ctx, pg.FollowConfig{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	waitStreaming(t, r, 1)
	copies, err := r.UpstreamSlots(ctx, p.Upstream(), []string{"cdc"})
	if err != nil || len(copies) != 1 {
		t.Fatalf("upstream slots %+v, %v", copies, err)
	}
	before, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.InstallLogicalSlots(ctx, copies); !errors.Is(err, pg.ErrSlotUnusable) {
		t.Fatalf("install of a copy older than the replica's WAL: %v", err)
	}
	after, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !after.PostmasterStart.Equal(before.PostmasterStart) {
		t.Fatalf("the replica restarted for a refused copy")
	}
	// Once the consumer moves the primary's slot on (its restart_lsn
	// moves at the running-xacts records checkpoints write), the copy
	// installs.
	testutil.Eventually(t, 60*time.Second, func() error {
		mustExec(t, p, "CHECKPOINT")
		changes(t, p, "cdc")
		copies, err = r.UpstreamSlots(ctx, p.Upstream(), []string{"cdc"})
		if err != nil {
			return err
		}
		return r.InstallLogicalSlots(ctx, copies)
	}, "the copy installs once the primary's slot has moved on")
	slotOf(t, r, "cdc")
}
