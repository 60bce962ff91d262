package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestClusterConfigReachesPostgres edits the config key as `patronictl
// edit-config` does and checks, on real PostgreSQL, that a reloadable
// parameter and a pg_hba line reach every member, and that a restart-only
// parameter shows as pending_restart with its reason in every member key
// until the member restarts.
func TestClusterConfigReachesPostgres(t *testing.T) {
	c := newITCluster(t, 2)
	for _, nd := range c.nodes {
		c.start(nd)
	}
	c.waitHealthy(t, 120*time.Second)

	cfg := c.cluster(t).Config
	if cfg == nil {
		t.Fatal("no config key")
	}
	cfg.Postgresql = &dcs.PostgresqlConfig{
		Parameters: map[string]any{"work_mem": "6MB", "wal_buffers": "1MB", "temp_file_limit": float64(123456)},
		Extra: map[string]json.RawMessage{"pg_hba": json.RawMessage(`["host all all 10.77.0.0/16 scram-sha-256",` +
			`"local all all scram-sha-256","host all all 127.0.0.1/32 scram-sha-256",` +
			`"local replication all scram-sha-256","host replication all 127.0.0.1/32 scram-sha-256"]`)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.admin.Put(ctx, dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{ModRevision: cfg.ModRevision}); err != nil {
		t.Fatal(err)
	}

	show := func(nd *node, q string) (string, error) {
		conn, err := connect(ctx, nd)
		if err != nil {
			return "", err
		}
		defer conn.Close(context.Background())
		var v string
		err = conn.QueryRow(ctx, q).Scan(&v)
		return v, err
	}
	for _, nd := range c.nodes {
		testutil.Eventually(t, 60*time.Second, func() error {
			for q, want := range map[string]string{
				"SHOW work_mem":        "6MB",
				"SHOW temp_file_limit": "123456kB",
				"SELECT count(*)::text FROM pg_hba_file_rules WHERE address = '10.77.0.0'": "1",
			} {
				if got, err := show(nd, q); err != nil || got != want {
					return fmt.Errorf("%s on %s: %q (%v), want %q", q, nd.name, got, err, want)
				}
			}
			m := c.cluster(t).Member(nd.name)
			if m == nil || !m.PendingRestart {
				return fmt.Errorf("member key of %s has no pending_restart", nd.name)
			}
			var reason map[string]pg.PendingChange
			if err := json.Unmarshal(m.PendingReason, &reason); err != nil {
				return fmt.Errorf("pending_restart_reason of %s: %q: %v", nd.name, m.PendingReason, err)
			}
			if want := (pg.PendingChange{OldValue: "512kB", NewValue: "1MB"}); reason["wal_buffers"] != want {
				return fmt.Errorf("pending_restart_reason of %s: %+v", nd.name, reason)
			}
			return nil
		}, "the config key reaches %s", nd.name)
	}

	// A restart applies it and clears the pending state.
	nd := c.nodes[0]
	if _, err := nd.controller().Restart(ctx, healthapi.RestartRequest{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		if got, err := show(nd, "SHOW wal_buffers"); err != nil || got != "1MB" {
			return fmt.Errorf("wal_buffers %q (%v)", got, err)
		}
		if m := c.cluster(t).Member(nd.name); m == nil || m.PendingRestart || m.PendingReason != nil {
			return fmt.Errorf("member key still pending: %v", m)
		}
		return nil
	}, "restart clears pending_restart")
}

// TestScheduledRestart schedules restarts as POST /restart with a
// schedule does: one is published in the member key, a second one is
// refused, a cancelled one never runs, and a due one restarts PostgreSQL
// when its restart_pending filter holds and then leaves the member key.
func TestScheduledRestart(t *testing.T) {
	c := newITCluster(t, 1)
	nd := c.nodes[0]
	c.start(nd)
	c.waitHealthy(t, 120*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	started := func() (time.Time, error) {
		st, err := nd.inst.Status(ctx)
		return st.PostmasterStart, err
	}
	scheduled := func() string {
		m := c.cluster(t).Member(nd.name)
		if m == nil {
			return ""
		}
		return string(m.ScheduledRestart)
	}
	before, err := started()
	if err != nil {
		t.Fatal(err)
	}

	later := time.Now().Add(time.Hour)
	if _, err := nd.controller().Restart(ctx, healthapi.RestartRequest{Schedule: &later}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(scheduled(), later.UTC().Format("2006-01-02T15:04")) {
			return fmt.Errorf("member key scheduled_restart %q", scheduled())
		}
		return nil
	}, "the schedule is in the member key")
	if _, err := nd.controller().Restart(ctx, healthapi.RestartRequest{Schedule: &later}); !errors.Is(err, healthapi.ErrConflict) {
		t.Fatalf("second schedule: %v, want ErrConflict", err)
	}
	if err := nd.controller().CancelRestart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nd.controller().CancelRestart(ctx); !errors.Is(err, healthapi.ErrNotFound) {
		t.Fatalf("second cancel: %v, want ErrNotFound", err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if s := scheduled(); s != "" {
			return fmt.Errorf("member key still has scheduled_restart %q", s)
		}
		return nil
	}, "the cancelled schedule leaves the member key")

	// restart_pending with nothing pending: dropped when due, no restart.
	soon := time.Now().Add(2 * time.Second)
	if _, err := nd.controller().Restart(ctx, healthapi.RestartRequest{Schedule: &soon, RestartPending: true}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if time.Now().Before(soon) || scheduled() != "" {
			return fmt.Errorf("scheduled_restart %q", scheduled())
		}
		return nil
	}, "a schedule whose filter fails is dropped")
	if got, err := started(); err != nil || !got.Equal(before) {
		t.Fatalf("restarted although nothing was pending (%v -> %v, %v)", before, got, err)
	}

	soon = time.Now().Add(2 * time.Second)
	if _, err := nd.controller().Restart(ctx, healthapi.RestartRequest{Schedule: &soon}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		if got, err := started(); err != nil || !got.After(before) {
			return fmt.Errorf("postmaster start %v (%v), not after %v", got, err, before)
		}
		if s := scheduled(); s != "" {
			return fmt.Errorf("member key still has scheduled_restart %q", s)
		}
		return nil
	}, "the due restart ran")
}
