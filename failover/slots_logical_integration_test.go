package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestLogicalSlotFailover runs a permanent logical slot through a failover
// on real PostgreSQL 15 and etcd: the leader creates it and publishes its
// position in the status key, each replica copies it (one restart) and
// advances its copy; then the primary's node dies. On the new primary the
// slot exists, its confirmed position is the one the consumer confirmed
// on the old primary (no earlier: nothing consumed comes again, since the
// consumer waited for the position to be published and replayed), and
// decoding returns exactly the changes written after that position: the
// one written but not consumed before the failover, and the one written
// after it. The old primary then rejoins and its copy follows the new
// primary's slot, and a switchover back to it hands the slot over at the
// published position.
func TestLogicalSlotFailover(t *testing.T) {
	c := newITCluster(t, 3)
	params := maps.Clone(itParams)
	params["wal_level"] = "logical"
	params["hot_standby_feedback"] = "on"
	for _, nd := range c.nodes {
		if _, err := nd.inst.ApplyLocalParameters(context.Background(), params); err != nil {
			t.Fatal(err)
		}
		c.start(nd)
	}
	leader := c.waitHealthy(t, 120*time.Second)
	c.patchConfig(t, leader, func(cfg *dcs.ClusterConfig) {
		if cfg.Extra == nil {
			cfg.Extra = map[string]json.RawMessage{}
		}
		cfg.Extra["slots"] = json.RawMessage(`{"cdc":{"type":"logical","database":"postgres","plugin":"test_decoding"}}`)
	})
	execSQL(t, leader, "CREATE TABLE t (v text)")

	// The slot exists on the leader and is copied to both replicas.
	testutil.Eventually(t, 90*time.Second, func() error {
		for _, nd := range c.nodes {
			s, err := slotRow(nd, "cdc")
			if err != nil {
				return fmt.Errorf("%s: %w", nd.name, err)
			}
			if s.plugin != "test_decoding" || s.database != "postgres" {
				return fmt.Errorf("%s: slot cdc is %+v", nd.name, s)
			}
		}
		return nil
	}, "slot cdc on every node")

	// A consumer reads a change on the primary and confirms it.
	execSQL(t, leader, "INSERT INTO t VALUES ('consumed-before-failover')")
	if got := getChanges(t, leader, "cdc"); !strings.Contains(got, "consumed-before-failover") {
		t.Fatalf("changes on %s: %q", leader.name, got)
	}
	s, err := slotRow(leader, "cdc")
	if err != nil {
		t.Fatal(err)
	}
	confirmed := s.confirmed
	// The leader publishes it, and the replicas move their copies there.
	testutil.Eventually(t, 30*time.Second, func() error {
		cl := c.cluster(t)
		if cl.Status == nil || pg.LSN(cl.Status.Slots["cdc"]) < confirmed {
			return fmt.Errorf("status key %+v, want slots.cdc >= %v", cl.Status, confirmed)
		}
		for _, nd := range c.nodes {
			if nd == leader {
				continue
			}
			s, err := slotRow(nd, "cdc")
			if err != nil {
				return fmt.Errorf("%s: %w", nd.name, err)
			}
			if s.confirmed != confirmed {
				return fmt.Errorf("%s: copy at %v, want %v", nd.name, s.confirmed, confirmed)
			}
		}
		return nil
	}, "the replicas' copies at the consumer's position %v", confirmed)

	waitCopiesSafe(t, c, leader)

	// A change the consumer has not read yet reaches the replicas.
	execSQL(t, leader, "INSERT INTO t VALUES ('unconsumed-before-failover')")
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, nd := range c.nodes {
			if nd == leader {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n, err := queryCount(ctx, nd, "SELECT count(*) FROM t")
			cancel()
			if err != nil || n != 2 {
				return fmt.Errorf("%s: %d rows, %v", nd.name, n, err)
			}
		}
		return nil
	}, "the unconsumed change replicated")

	// The primary's node dies: agent and PostgreSQL.
	leader.stop(failover.ExitAbandon)
	killIfRunning(t, leader)
	newLeader := c.waitHealthy(t, 120*time.Second, leader.name)
	if newLeader == leader {
		t.Fatalf("%s still leads", leader.name)
	}
	s, err = slotRow(newLeader, "cdc")
	if err != nil {
		t.Fatalf("slot cdc on the new primary %s: %v", newLeader.name, err)
	}
	if s.confirmed != confirmed {
		t.Fatalf("slot cdc on the new primary %s at %v, want the consumer's %v", newLeader.name, s.confirmed, confirmed)
	}
	execSQL(t, newLeader, "INSERT INTO t VALUES ('after-failover')")
	got := getChanges(t, newLeader, "cdc")
	if !strings.Contains(got, "unconsumed-before-failover") || !strings.Contains(got, "'after-failover'") {
		t.Fatalf("changes from slot cdc on the new primary %s: %q", newLeader.name, got)
	}
	if strings.Contains(got, "'consumed-before-failover'") {
		t.Fatalf("an already consumed change came again: %q", got)
	}
	// The slot keeps working: consumed changes are not returned twice.
	if again := getChanges(t, newLeader, "cdc"); strings.Contains(again, "failover") {
		t.Fatalf("changes returned twice: %q", again)
	}

	// The old primary's node comes back as a replica; its slot (kept, or
	// copied again after a rewind) follows the new primary's.
	s, err = slotRow(newLeader, "cdc")
	if err != nil {
		t.Fatal(err)
	}
	c.start(leader)
	c.waitHealthy(t, 120*time.Second)
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, nd := range c.nodes {
			if nd == newLeader {
				continue
			}
			got, err := slotRow(nd, "cdc")
			if err != nil {
				return fmt.Errorf("%s: %w", nd.name, err)
			}
			if got.confirmed != s.confirmed {
				return fmt.Errorf("%s: copy at %v, want %v", nd.name, got.confirmed, s.confirmed)
			}
		}
		return nil
	}, "every replica's copy at the new primary's position %v", s.confirmed)
	waitCopiesSafe(t, c, newLeader)

	// A switchover back to the old primary's node: its copy takes over,
	// and the demoted primary keeps its slot as a copy.
	execSQL(t, newLeader, "INSERT INTO t VALUES ('before-switchover')")
	body := fmt.Sprintf(`{"leader":%q,"candidate":%q}`, newLeader.name, leader.name)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/switchover", newLeader.apiPort), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if msg := readAll(resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /switchover: %d %s", resp.StatusCode, msg)
	}
	if got := c.waitHealthy(t, 60*time.Second); got != leader {
		t.Fatalf("leader is %s after the switchover, want %s", got.name, leader.name)
	}
	if got, err := slotRow(leader, "cdc"); err != nil || got.confirmed != s.confirmed {
		t.Fatalf("slot cdc on %s after the switchover: %+v, %v; want at %v", leader.name, got, err, s.confirmed)
	}
	execSQL(t, leader, "INSERT INTO t VALUES ('after-switchover')")
	got = getChanges(t, leader, "cdc")
	if !strings.Contains(got, "'before-switchover'") || !strings.Contains(got, "'after-switchover'") || strings.Contains(got, "'after-failover'") {
		t.Fatalf("changes from slot cdc after the switchover on %s: %q", leader.name, got)
	}
	if _, err := slotRow(newLeader, "cdc"); err != nil {
		t.Fatalf("the demoted %s lost its slot: %v", newLeader.name, err)
	}
}

type slotInfo struct {
	plugin, database string
	confirmed        pg.LSN
}

// slotRow reads a slot of nd's server.
func slotRow(nd *node, name string) (slotInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, nd)
	if err != nil {
		return slotInfo{}, err
	}
	defer conn.Close(context.Background())
	var s slotInfo
	var lsn *string
	err = conn.QueryRow(ctx, "SELECT COALESCE(plugin::text, ''), COALESCE(database::text, ''), confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", name).
		Scan(&s.plugin, &s.database, &lsn)
	if err != nil {
		return slotInfo{}, err
	}
	if lsn == nil {
		return slotInfo{}, errors.New("no confirmed_flush_lsn")
	}
	s.confirmed, err = pg.ParseLSN(*lsn)
	return s, err
}

// getChanges consumes a logical slot's changes on nd as one string.
func getChanges(t *testing.T, nd *node, slot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, nd)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)", slot)
	if err != nil {
		t.Fatalf("get changes of %s on %s: %v", slot, nd.name, err)
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
		t.Fatalf("get changes of %s on %s: %v", slot, nd.name, err)
	}
	return strings.Join(out, "\n")
}

func queryCount(ctx context.Context, nd *node, sql string) (int64, error) {
	conn, err := connect(ctx, nd)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

// killIfRunning SIGKILLs nd's postmaster unless it is already gone (its
// fence may have stopped it).
func killIfRunning(t *testing.T, nd *node) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nd.inst.DataDir(), "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid of %s: %v", nd.name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill postmaster %d of %s: %v", pid, nd.name, err)
	}
}

// waitCopiesSafe waits until the primary holds the catalog rows of every
// replica's copy of slot cdc: the replica's physical slot on the primary
// carries a catalog_xmin, from hot_standby_feedback, no newer than the
// copy's (the check the Controller makes before it calls a copy safe).
func waitCopiesSafe(t *testing.T, c *itCluster, primary *node) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, nd := range c.nodes {
			if nd == primary {
				continue
			}
			copyXmin, err := catalogXmin(nd, "cdc")
			if err != nil {
				return err
			}
			physXmin, err := catalogXmin(primary, pg.SlotName(nd.name))
			if err != nil {
				return err
			}
			if physXmin == 0 || physXmin > copyXmin {
				return fmt.Errorf("%s: physical slot catalog_xmin %d, copy's %d", nd.name, physXmin, copyXmin)
			}
		}
		return nil
	}, "the primary %s holds the catalog rows of the copies", primary.name)
}

// catalogXmin reads a slot's catalog_xmin on nd (0 when null).
func catalogXmin(nd *node, slot string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return queryCount(ctx, nd, fmt.Sprintf("SELECT COALESCE(catalog_xmin::text, '0')::bigint FROM pg_replication_slots WHERE slot_name = '%s'", slot))
}
