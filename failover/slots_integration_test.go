package failover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/internal/testutil"
)

// TestSlotLifecycle runs the slot rules on real PostgreSQL and etcd: the
// leader keeps a slot for each member and for each permanent slot; the
// slot of a member that left, and a stray unused slot, are dropped once
// member_slots_ttl has passed; a slot that ignore_slots names is kept.
func TestSlotLifecycle(t *testing.T) {
	c := newITCluster(t, 2)
	for _, nd := range c.nodes {
		c.start(nd)
	}
	leader := c.waitHealthy(t, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	// A member that joins (its key only: it never streams) and a slot
	// created by hand, one of them covered by ignore_slots.
	ghost := &dcs.Member{Name: "ghost", ConnURL: "postgres://127.0.0.1:1/postgres", State: dcs.StateRunning, Role: dcs.RoleReplica}
	if _, err := c.admin.Put(ctx, dcs.MemberKey("ghost"), ghost.Encode(), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	execSQL(t, leader, "SELECT pg_create_physical_replication_slot('stray', true), pg_create_physical_replication_slot('external', true)")

	cfg := c.cluster(t).Config
	cfg.Extra = map[string]json.RawMessage{
		"slots":            json.RawMessage(`{"keep_me":{"type":"physical"}}`),
		"ignore_slots":     json.RawMessage(`[{"name":"external"}]`),
		"member_slots_ttl": json.RawMessage(`"3s"`),
	}
	if _, err := c.admin.Put(ctx, dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{ModRevision: cfg.ModRevision}); err != nil {
		t.Fatal(err)
	}
	slots := func() ([]string, error) {
		conn, err := connect(ctx, leader)
		if err != nil {
			return nil, err
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(ctx, "SELECT slot_name::text FROM pg_replication_slots ORDER BY 1")
		if err != nil {
			return nil, err
		}
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, rows.Err()
	}
	var replica string
	for _, nd := range c.nodes {
		if nd != leader {
			replica = nd.name
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		got, err := slots()
		if err != nil {
			return err
		}
		for _, want := range []string{"ghost", "keep_me", replica, "external"} {
			if !slices.Contains(got, want) {
				return fmt.Errorf("slots %v lack %s", got, want)
			}
		}
		if slices.Contains(got, "stray") {
			return fmt.Errorf("slots %v: stray is still there", got)
		}
		return nil
	}, "the member and permanent slots exist, the stray one is dropped after member_slots_ttl")

	// The member leaves for good: its slot goes member_slots_ttl later,
	// not at once.
	if err := c.admin.Delete(ctx, dcs.MemberKey("ghost"), dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		got, err := slots()
		if err != nil {
			return err
		}
		if slices.Contains(got, "ghost") {
			return fmt.Errorf("slots %v: ghost is still there", got)
		}
		return nil
	}, "the slot of the member that left is dropped")
	if d := time.Since(left); d < 3*time.Second {
		t.Fatalf("ghost's slot dropped %v after it left, before member_slots_ttl (3s)", d)
	}
	got, err := slots()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keep_me", replica, "external"} {
		if !slices.Contains(got, want) {
			t.Fatalf("slots %v lack %s", got, want)
		}
	}
}
