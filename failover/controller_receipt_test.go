package failover

import (
	"testing"
	"time"

	"github.com/pgha/pgha/pg"
)

// TestLocalStatusWALReceipt: the false-failover guard input
// (LastWALReceiptAt) is the WAL receiver's last_msg_receipt_time, so an idle
// cluster whose received LSN stands still is still "receiving"; the LSN
// advance is only a fallback when the time is missing while streaming.
func TestLocalStatusWALReceipt(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	streaming := func(recv pg.LSN, receipt time.Time) pg.Status {
		return pg.Status{State: pg.StateRunning, Role: pg.RoleReplica, Timeline: 1,
			ReceiveLSN: recv, ReplayLSN: recv, Receiver: pg.ReceiverStreaming, LastMsgReceiptTime: receipt}
	}
	type step struct {
		st   pg.Status
		now  time.Time
		want time.Time
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"idle cluster: receipt time advances, LSN does not", []step{
			{streaming(0x3000000, t0.Add(-time.Second)), t0, t0.Add(-time.Second)},
			{streaming(0x3000000, t0.Add(9*time.Second)), t0.Add(10 * time.Second), t0.Add(9 * time.Second)},
		}},
		{"receipt time wins over a fresher LSN advance", []step{
			{streaming(0x3000000, t0.Add(-5*time.Second)), t0, t0.Add(-5 * time.Second)},
			{streaming(0x3000100, t0.Add(-5*time.Second)), t0.Add(time.Second), t0.Add(-5 * time.Second)},
		}},
		{"fallback: no receipt time, LSN advance counts", []step{
			{streaming(0x3000000, time.Time{}), t0, t0},
			{streaming(0x3000000, time.Time{}), t0.Add(10 * time.Second), t0},
			{streaming(0x3000100, time.Time{}), t0.Add(20 * time.Second), t0.Add(20 * time.Second)},
		}},
		{"not streaming: no receipt", []step{
			{pg.Status{State: pg.StateRunning, Role: pg.RoleReplica, Timeline: 1, ReceiveLSN: 0x3000000}, t0, time.Time{}},
			{pg.Status{State: pg.StateRunning, Role: pg.RolePrimary, Timeline: 2, FlushLSN: 0x3000100}, t0.Add(time.Second), time.Time{}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Controller{}
			for i, s := range tc.steps {
				if got := c.localStatus(s.st, s.now).LastWALReceiptAt; !got.Equal(s.want) {
					t.Fatalf("step %d: LastWALReceiptAt = %v, want %v", i, got, s.want)
				}
			}
		})
	}
}
