package pgtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// TestArmFence: the out-of-agent fence stops a primary at its deadline
// with nobody calling the Controller, refuses commits from then on, is
// pushed back by re-arming, and covers the data directory: a postmaster
// restarted in place before the deadline is stopped at it too.
func TestArmFence(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		run       func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server)
		wantState pg.ProcessState
		fences    int
	}{
		{"fires at the deadline", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			clk.Advance(time.Second - time.Nanosecond)
			commit(t, s, 10)
			clk.Advance(time.Nanosecond)
			if _, err := s.Commit(10); !errors.Is(err, pg.ErrNotRunning) {
				t.Fatalf("commit at the deadline: %v, want ErrNotRunning", err)
			}
		}, pg.StateStopped, 1},
		{"Step fires it", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			clk.Advance(2 * time.Second)
			n.Step()
		}, pg.StateStopped, 1},
		{"re-armed later", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			clk.Advance(500 * time.Millisecond)
			must(t, s.ArmFence(start.Add(3*time.Second)))
			clk.Advance(time.Second)
			commit(t, s, 10)
		}, pg.StateRunning, 0},
		{"disarmed", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			must(t, s.DisarmFence())
			clk.Advance(2 * time.Second)
		}, pg.StateRunning, 0},
		{"a postmaster restarted in place is stopped at the deadline", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			s.Crash()
			must(t, s.Start(ctx))
			clk.Advance(2 * time.Second)
		}, pg.StateStopped, 1},
		{"armed while stopped, started before the deadline", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			s.Crash()
			must(t, s.ArmFence(start.Add(time.Second)))
			must(t, s.Start(ctx))
			clk.Advance(2 * time.Second)
		}, pg.StateStopped, 1},
		{"a deadline passed while stopped does not stop a later start", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			s.Crash()
			clk.Advance(2 * time.Second)
			must(t, s.Start(ctx))
			clk.Advance(2 * time.Second)
		}, pg.StateRunning, 0},
		{"keepers off", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			must(t, s.ArmFence(start.Add(time.Second)))
			n.SetFenceKeepers(false)
			if err := s.ArmFence(start.Add(time.Second)); !errors.Is(err, pg.ErrFenceKeeperDisabled) {
				t.Fatalf("ArmFence with keepers off: %v", err)
			}
			clk.Advance(2 * time.Second)
		}, pg.StateRunning, 0},
		{"a past deadline stops at once", func(t *testing.T, clk *clock.Fake, n *pgtest.Network, s *pgtest.Server) {
			clk.Advance(time.Second)
			must(t, s.ArmFence(start))
		}, pg.StateStopped, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			n := pgtest.NewNetwork(clk)
			s := n.NewServer("a")
			must(t, s.Bootstrap(ctx, pg.BootstrapOptions{}))
			tc.run(t, clk, n, s)
			if got := s.State(); got != tc.wantState {
				t.Errorf("state %s, want %s", got, tc.wantState)
			}
			if got := s.KeeperFences(); got != tc.fences {
				t.Errorf("keeper fences %d, want %d", got, tc.fences)
			}
		})
	}
}

// TestBandwidth: with a bound, a replica catches up over several steps and
// counts as streaming meanwhile; a clean stop still sends everything.
func TestBandwidth(t *testing.T) {
	ctx := context.Background()
	n := pgtest.NewNetwork(clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	p, r := n.NewServer("p"), n.NewServer("r")
	must(t, p.Bootstrap(ctx, pg.BootstrapOptions{}))
	must(t, r.Clone(ctx, pg.CloneRequest{Upstream: p.Addr()}))
	must(t, r.Follow(ctx, pg.FollowConfig{Upstream: p.Addr()}))
	n.Step()
	n.SetBandwidth(1000)
	start := r.WALEnd()
	commit(t, p, 2500)
	for i, want := range []pg.LSN{1000, 2000, 2500} {
		n.Step()
		if got := r.WALEnd() - start; got != want {
			t.Fatalf("after step %d the replica received %d bytes, want %d", i+1, got, want)
		}
	}
	commit(t, p, 5000)
	n.Step()
	must(t, p.Stop(ctx, pg.StopFast))
	if r.WALEnd() != p.WALEnd() {
		t.Fatalf("after a clean stop the replica is at %s, the primary at %s", r.WALEnd(), p.WALEnd())
	}
}
