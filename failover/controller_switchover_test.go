package failover_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// ckptPG is fakePG with a control file: ShutdownCheckpoint answers lsn, or
// err.
type ckptPG struct {
	*fakePG
	lsn pg.LSN
	err error
}

var _ pg.ControlDataReader = (*ckptPG)(nil)

func (f *ckptPG) ShutdownCheckpoint(context.Context) (pg.LSN, error) { return f.lsn, f.err }

// TestSwitchoverWaitsForShutdownCheckpoint: the lease moves only once the
// candidate has received WAL past the old primary's shutdown checkpoint
// (DESIGN §3 invariant 5 by construction); otherwise, or when the
// checkpoint cannot be read, the old primary keeps its term and runs again.
func TestSwitchoverWaitsForShutdownCheckpoint(t *testing.T) {
	const ckpt = pg.LSN(0x3043300)
	tests := []struct {
		name     string
		received int64  // what the candidate reports
		state    string // the candidate's pg_stat_replication state on the primary
		ckptErr  error
		handOver bool
	}{
		{"candidate past the checkpoint", int64(ckpt) + 0x78, "streaming", nil, true},
		{"candidate exactly at the checkpoint start", int64(ckpt), "streaming", nil, false},
		{"not a clean shutdown", int64(ckpt) + 0x78, "streaming", fmt.Errorf("injected: %w", pg.ErrNotCleanlyStopped), false},
		// Refused before the stop: no write outage for nothing.
		{"candidate not streaming", int64(ckpt) + 0x78, "startup", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, store := memStore(t)
			var received atomic.Int64
			received.Store(tt.received)
			cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, `{"state":"running","role":"replica","timeline":1,"xlog":{"received_location":%d,"replayed_location":%d}}`,
					received.Load(), received.Load())
			}))
			t.Cleanup(cand.Close)
			inst := &ckptPG{fakePG: newFakePG(), lsn: ckpt, err: tt.ckptErr}
			inst.setReplication(pg.Replication{ApplicationName: "n2", State: tt.state})
			o := baseOptions(store, inst.fakePG)
			o.Instance, o.DataDir = inst, inst.fakePG
			o.SwitchoverTimeout = 5 * time.Second
			o.Settings = shortSettings()
			c, _ := runController(t, o)
			waitLeading(t, c)
			ctx := context.Background()
			n2 := &dcs.Member{Name: "n2", ConnURL: "postgres://127.0.0.1:1/postgres", APIURL: cand.URL + "/patroni",
				State: dcs.StateRunning, Role: dcs.RoleReplica}
			if _, err := store.Put(ctx, dcs.MemberKey("n2"), n2.Encode(), 0, dcs.Cond{}); err != nil {
				t.Fatal(err)
			}
			_, err := c.Switchover(ctx, healthapi.SwitchoverRequest{Leader: "n1", Candidate: "n2"})
			calls := inst.Calls()
			if stopped := slices.Contains(calls, "stop:fast"); stopped != (tt.state == "streaming") {
				t.Fatalf("old primary stopped %v, want %v: %v (switchover err %v)", stopped, tt.state == "streaming", calls, err)
			}
			if tt.handOver {
				// Nobody runs n2's agent, so the key stays empty; what
				// counts is that n1 resigned and follows n2.
				testutil.Eventually(t, 10*time.Second, func() error {
					if cl := read(t, store); cl.Leader != nil && cl.Leader.Name == "n1" {
						return errors.New("n1 still holds the key")
					}
					if !slices.Contains(inst.Calls(), "follow:127.0.0.1:1") {
						return fmt.Errorf("not following n2: %v", inst.Calls())
					}
					return nil
				}, "handed over")
				return
			}
			if err == nil {
				t.Fatal("switchover reported success without the candidate's confirmation")
			}
			t.Logf("switchover answer: %v", err)
			// The old primary keeps the term and runs as primary again.
			testutil.Eventually(t, 10*time.Second, func() error {
				cl := read(t, store)
				if cl.Leader == nil || cl.Leader.Name != "n1" {
					return fmt.Errorf("leader %+v", cl.Leader)
				}
				return nil
			}, "n1 keeps the key")
			waitLeading(t, c) // running as primary again
		})
	}
}
