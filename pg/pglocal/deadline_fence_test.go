package pglocal

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestArmFence: the fence keeper leaves a primary alone while it is
// re-armed, stops it once a deadline passes without a re-arm (as when the
// agent is frozen or dead: here this process simply stops re-arming), and
// does nothing once disarmed.
func TestArmFence(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	a := bootstrapPrimary(t, "armfence")
	t.Cleanup(func() { _ = a.DisarmFence() })

	// Re-armed every 100 ms with a deadline 500 ms ahead for 2 s: the
	// server keeps running.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); <-tick.C {
		if err := a.ArmFence(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := queryInt(ctx, a, "SELECT 1"); err != nil {
		t.Fatalf("a re-armed primary was stopped: %v", err)
	}
	if !a.FenceKeeperAlive() {
		t.Fatal("fence keeper not running")
	}

	// Disarmed: a deadline in the past does nothing afterwards.
	if err := a.ArmFence(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := a.DisarmFence(); err != nil {
		t.Fatal(err)
	}
	// What is waited for here is time itself: a second past the deadline.
	<-time.After(1300 * time.Millisecond)
	if _, err := queryInt(ctx, a, "SELECT 1"); err != nil {
		t.Fatalf("a disarmed fence stopped the server: %v", err)
	}

	// Armed and left alone: stopped after the deadline.
	armedAt := time.Now()
	if err := a.ArmFence(armedAt.Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if _, err := queryInt(ctx, a, "SELECT 1"); err == nil {
			return fmt.Errorf("still serving %v after arming", time.Since(armedAt))
		}
		return nil
	}, "fenced by the keeper")
	if time.Since(armedAt) < 500*time.Millisecond {
		t.Fatal("fenced before the deadline")
	}
	// A stopped server is not armed: ArmFence disarms.
	testutil.Eventually(t, 10*time.Second, func() error { return a.ArmFence(time.Now()) }, "arm a stopped server")
}

func TestArmFenceDisabled(t *testing.T) {
	cfg := testConfig(t, "armfence-off")
	cfg.DisableFenceKeeper = true
	l := newLocal(t, cfg)
	if err := l.ArmFence(time.Now().Add(time.Second)); !errors.Is(err, pg.ErrFenceKeeperDisabled) {
		t.Fatalf("ArmFence with the keeper disabled: %v", err)
	}
}
