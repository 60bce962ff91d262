package failover_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
)

// TestControllerAppliesTTLLive: a ttl written to the config key is
// applied without a restart: the leader keeps its term (the same fencing
// token) while its leader key moves to a lease with the new ttl, and the
// health API reports the new ttl. A ttl the timing rule rejects is named
// in a warning and not applied.
func TestControllerAppliesTTLLive(t *testing.T) {
	_, store := memStore(t)
	inst := newFakePG()
	o := baseOptions(store, inst)
	c, _ := runController(t, o)
	waitLeading(t, c)
	token := c.State().Term
	before := read(t, store).Leader.Lease

	setTTL := func(ttl float64) {
		t.Helper()
		f := func(v float64) *float64 { return &v }
		cfg := &dcs.ClusterConfig{TTL: f(ttl), LoopWait: f(1)}
		if _, err := store.Put(context.Background(), dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ttl := range []float64{12, 5} {
		setTTL(ttl)
		want := time.Duration(ttl * float64(time.Second))
		testutil.Eventually(t, 3*want, func() error {
			s := c.State()
			cl := read(t, store)
			switch {
			case s.TTL != want:
				return fmt.Errorf("health API ttl %v", s.TTL)
			case cl.Leader == nil || cl.Leader.Lease == before:
				return fmt.Errorf("leader key %+v still on lease %d", cl.Leader, before)
			case !s.IsLeader || s.Term != token || cl.Leader.Revision != token:
				return fmt.Errorf("leader %v term %d key %+v, want term %d", s.IsLeader, s.Term, cl.Leader, token)
			}
			before = cl.Leader.Lease
			return nil
		}, "ttl %v applied", want)
	}
	if calls := inst.Calls(); fmt.Sprint(calls) != "[bootstrap]" {
		t.Errorf("PostgreSQL operations during the ttl changes: %v", calls)
	}
}

// TestControllerKeepsTTLItCannotApply: a ttl whose derived timings would
// not ride out a DCS blip with the demote lead is not applied.
func TestControllerKeepsTTLItCannotApply(t *testing.T) {
	_, store := memStore(t)
	o := baseOptions(store, newFakePG())
	o.Settings = failover.DefaultSettings()
	// Rides out three keepalives at ttl 6 s (3.15 s for 3 s), not at 4 s
	// (1.77 s for 2 s).
	o.Settings.DemoteLead = time.Second
	c, _ := runController(t, o)
	waitLeading(t, c)
	f := func(v float64) *float64 { return &v }
	cfg := &dcs.ClusterConfig{TTL: f(4), LoopWait: f(1)}
	if _, err := store.Put(context.Background(), dcs.KeyConfig, cfg.Encode(), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if cl := c.State().Cluster; cl == nil || cl.Config == nil || cl.Config.TTL == nil || *cl.Config.TTL != 4 {
			return fmt.Errorf("the controller has not read the config key yet")
		}
		return nil
	}, "config key read")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.State().TTL; got != 6*time.Second {
			t.Fatalf("ttl %v applied although it cannot ride out a blip", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
