package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// testClusterConfig changes the cluster's configuration as `patronictl
// edit-config -p ... -s postgresql.pg_hba=...` does (PATCH /config) and
// checks on every node's PostgreSQL: the reloadable work_mem and the
// pg_hba line take effect at once; the restart-only wal_buffers (1MB,
// derived from shared_buffers, before) shows as
// pending_restart with its reason in every member key until a restart with
// restart_pending applies it. The agents keep running throughout.
func testClusterConfig(t *testing.T, h *harness) {
	h.waitHealthy(t)
	agents := h.agentPIDs()
	ctx, cancel := context.WithTimeout(h.ctx, 2*waitTimeout)
	defer cancel()
	hba := []any{
		"local all all scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all 10.88.0.0/16 scram-sha-256",
		"local replication all scram-sha-256",
		"host replication all 127.0.0.1/32 scram-sha-256",
	}
	h.patchConfig(t, map[string]any{"postgresql": map[string]any{
		"parameters": map[string]any{"work_mem": "7MB", "wal_buffers": "2MB"},
		"pg_hba":     hba,
	}})
	query := func(name, q string) (string, error) {
		qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
		defer qcancel()
		conn, err := pgx.Connect(qctx, h.c.NodeDSN(name))
		if err != nil {
			return "", err
		}
		defer conn.Close(context.Background())
		var v string
		err = conn.QueryRow(qctx, q).Scan(&v)
		return v, err
	}
	for _, n := range h.c.Nodes() {
		err := localcluster.Poll(ctx, 200*time.Millisecond, func() error {
			for q, want := range map[string]string{
				"SHOW work_mem": "7MB",
				"SELECT count(*)::text FROM pg_hba_file_rules WHERE address = '10.88.0.0'": "1",
			} {
				if got, err := query(n.Name(), q); err != nil || got != want {
					return fmt.Errorf("%s: %q (%v), want %q", q, got, err, want)
				}
			}
			cl, err := h.c.Snapshot(ctx)
			if err != nil {
				return err
			}
			m := cl.Member(n.Name())
			if m == nil || !m.PendingRestart {
				return fmt.Errorf("member key without pending_restart")
			}
			var reason map[string]struct {
				Old string `json:"old_value"`
				New string `json:"new_value"`
			}
			if err := json.Unmarshal(m.PendingReason, &reason); err != nil || reason["wal_buffers"].New != "2MB" {
				return fmt.Errorf("pending_restart_reason %s (%v)", m.PendingReason, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the cluster's configuration did not reach %s: %v", n.Name(), err)
		}
	}
	for _, n := range h.c.Nodes() {
		if err := h.c.RestartPending(ctx, n.Name()); err != nil {
			t.Fatalf("restart --pending on %s: %v", n.Name(), err)
		}
		err := localcluster.Poll(ctx, 200*time.Millisecond, func() error {
			if got, err := query(n.Name(), "SHOW wal_buffers"); err != nil || got != "2MB" {
				return fmt.Errorf("wal_buffers %q (%v)", got, err)
			}
			cl, err := h.c.Snapshot(ctx)
			if err != nil {
				return err
			}
			if m := cl.Member(n.Name()); m == nil || m.PendingRestart {
				return fmt.Errorf("member key still pending")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("after restart --pending on %s: %v", n.Name(), err)
		}
	}
	h.waitHealthy(t)
	h.requireAgentsKept(t, agents)
}
