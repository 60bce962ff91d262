package failover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
)

// rawConfig returns the config key's value and revision, nil when absent.
func rawConfig(t *testing.T, s dcs.Store) ([]byte, int64) {
	t.Helper()
	snap, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyConfig {
			return kv.Value, kv.ModRevision
		}
	}
	return nil, 0
}

// TestControllerBootstrapConfig: the node that bootstraps the cluster
// seeds the config key with BootstrapConfig as is, keys pgha does not
// know included; a value later removed from the key falls back to
// Settings, not to BootstrapConfig (Patroni's bootstrap.dcs only seeds
// the key).
func TestControllerBootstrapConfig(t *testing.T) {
	_, store := memStore(t)
	on, loopWait := "on", 1.0
	bc := &dcs.ClusterConfig{
		LoopWait:        &loopWait,
		SynchronousMode: &on,
		Postgresql: &dcs.PostgresqlConfig{Extra: map[string]json.RawMessage{
			"pg_hba": json.RawMessage(`["host all all 127.0.0.1/32 trust"]`)}},
		Extra: map[string]json.RawMessage{"custom_knob": json.RawMessage(`{"a":1}`)},
	}
	want := string(bc.Encode())
	o := baseOptions(store, newFakePG())
	o.BootstrapConfig = bc
	o.ExitMode = failover.ExitAbandon
	c, _ := runController(t, o)
	waitLeading(t, c)

	var rev int64
	testutil.Eventually(t, 10*time.Second, func() error {
		var got []byte
		got, rev = rawConfig(t, store)
		if string(got) != want {
			return fmt.Errorf("config key %s, want %s", got, want)
		}
		return nil
	}, "config key seeded from BootstrapConfig")
	if !strings.Contains(want, `"custom_knob":{"a":1}`) || !strings.Contains(want, `"pg_hba"`) {
		t.Fatalf("extra keys missing from the encoding: %s", want)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if m := c.SyncStatus().Mode; m != failover.SyncOn {
			return fmt.Errorf("sync mode %q", m)
		}
		return nil
	}, "synchronous_mode from the key in effect")

	// Remove synchronous_mode from the key: the default (off) applies.
	edited := `{"loop_wait":1,"custom_knob":{"a":1}}`
	if _, err := store.Put(context.Background(), dcs.KeyConfig, []byte(edited), 0, dcs.Cond{ModRevision: rev}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if m := c.SyncStatus().Mode; m != failover.SyncOff {
			return fmt.Errorf("sync mode %q", m)
		}
		return nil
	}, "synchronous_mode falls back to the default")
	if got, _ := rawConfig(t, store); string(got) != edited {
		t.Fatalf("config key rewritten: %s", got)
	}
}
