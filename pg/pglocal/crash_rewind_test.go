package pglocal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestCrashedPrimaryTimelineAndRewind: node-a is the primary, node-b its
// replica, node-c a cascading replica of node-b. node-b is detached, node-a
// writes what node-b never gets and is SIGKILLed, node-b is promoted
// (node-c follows it onto timeline 2 through the cascade). Then node-b
// stops, so node-c's WAL receiver is down, and node-c must still report
// timeline 2. Finally the crashed node-a is started as a standby of node-b
// for a while, stopped, found diverged and rewound.
func TestCrashedPrimaryTimelineAndRewind(t *testing.T) {
	ctx := ctxT(t, 200*time.Second)
	a := bootstrapPrimary(t, "node-a")
	b := cloneReplica(t, a, "node-b")
	c := newLocal(t, testConfig(t, "node-c"))
	if err := c.Clone(ctx, pg.CloneRequest{Upstream: a.Upstream()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream()}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'v1' FROM generate_series(1, 100) g")
	waitCount(t, c, "SELECT count(*) FROM t", 100)

	t.Run("streaming replica reports receipt times", func(t *testing.T) {
		st := waitStreaming(t, c, 1)
		if st.LastMsgReceiptTime.IsZero() || st.LastMsgSendTime.IsZero() || st.LatestEndLSN == 0 ||
			st.LatestEndTime.IsZero() || st.ReceiverPort != b.cfg.Port {
			t.Fatalf("streaming status %+v", st)
		}
		ps, err := a.Status(ctx)
		if err != nil || !ps.LastMsgReceiptTime.IsZero() || ps.LatestEndLSN != 0 || ps.ReceiverPort != 0 {
			t.Fatalf("primary status %+v, %v", ps, err)
		}
		// An idle cluster: the receipt time keeps moving because the
		// receiver asks for keepalives (wal_receiver_timeout/2).
		first := st.LastMsgReceiptTime
		var gaps []time.Duration
		last := first
		testutil.Eventually(t, 30*time.Second, func() error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if st.LastMsgReceiptTime.After(last) {
				gaps = append(gaps, st.LastMsgReceiptTime.Sub(last))
				last = st.LastMsgReceiptTime
			}
			if len(gaps) < 3 {
				return fmt.Errorf("receipt time advanced %d times", len(gaps))
			}
			return nil
		}, "receipt time advances on an idle cluster")
		t.Logf("idle cluster: gaps between upstream messages %v", gaps)
	})

	// node-b stops streaming; node-a writes on alone and crashes.
	if err := b.Follow(ctx, pg.FollowConfig{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		st, err := b.Status(ctx)
		if err != nil {
			return err
		}
		if st.Receiver == pg.ReceiverStreaming {
			return fmt.Errorf("still streaming")
		}
		return nil
	}, "node-b detached")
	mustExec(t, a, "INSERT INTO t SELECT g, 'divergent' FROM generate_series(1000, 1999) g; CHECKPOINT; UPDATE t SET note = 'divergent too' WHERE id <= 50")
	if err := syscall.Kill(a.runningPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if s := a.State(); s != pg.StateCrashed {
			return fmt.Errorf("state %s", s)
		}
		return nil
	}, "node-a crashed")
	tli, err := b.Promote(ctx)
	if err != nil || tli != 2 {
		t.Fatalf("promote: %d, %v", tli, err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (101, 'after promote')")
	waitCount(t, c, "SELECT count(*) FROM t", 101)
	waitStreaming(t, c, 2)

	t.Run("replica without receiver reports the replayed timeline", func(t *testing.T) {
		if err := b.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if st.Receiver == pg.ReceiverStreaming {
				return fmt.Errorf("still streaming")
			}
			if st.Timeline != 2 || !st.LastMsgReceiptTime.IsZero() {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		}, "node-c on timeline 2 without receiver")
		// The sources Status used to rely on, for the record: the last
		// restartpoint is still on timeline 1.
		ckpt, err1 := queryInt(ctx, c, "SELECT timeline_id FROM pg_control_checkpoint()")
		minRec, err2 := queryInt(ctx, c, "SELECT min_recovery_end_timeline FROM pg_control_recovery()")
		t.Logf("node-c restartpoint timeline %d (%v), minimum recovery point timeline %d (%v)", ckpt, err1, minRec, err2)
		if tli, err := c.identifyLocalTimeline(ctx); err != nil || tli != 2 {
			t.Fatalf("IDENTIFY_SYSTEM on node-c: timeline %d, %v", tli, err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("crashed primary started as standby is rewound", func(t *testing.T) {
		if err := a.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream()}); err != nil {
			t.Fatal(err)
		}
		hist := filepath.Join(a.cfg.DataDir, "pg_wal", "00000002.history")
		testutil.Eventually(t, 30*time.Second, func() error {
			_, err := os.Stat(hist)
			return err
		}, "node-a's receiver talked to node-b")
		if err := a.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		d, err := a.CheckDivergence(ctx, b.Upstream())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("divergence %+v", d)
		if !d.Diverged {
			t.Fatalf("not diverged: %+v", d)
		}
		// With the segment holding the switch point gone (as if recycled),
		// the rewind fails before it changes anything and says why.
		seg := filepath.Join(a.cfg.DataDir, "pg_wal", fmt.Sprintf("%08X%08X%08X", d.LocalTimeline,
			uint64(d.SwitchPoint)>>32, uint64(d.SwitchPoint)&0xFFFFFFFF>>24))
		if err := os.Rename(seg, seg+".aside"); err != nil {
			t.Fatal(err)
		}
		err = a.Rewind(ctx, b.Upstream())
		if !errors.Is(err, pg.ErrRewindFailed) || !strings.Contains(err.Error(), "lacks WAL") {
			t.Fatalf("rewind without the switch point's segment: %v", err)
		}
		t.Logf("rewind without WAL: %v", err)
		if err := os.Rename(seg+".aside", seg); err != nil {
			t.Fatal(err)
		}
		if err := a.Rewind(ctx, b.Upstream()); err != nil {
			t.Fatal(err)
		}
		if err := a.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream()}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, b, "INSERT INTO t VALUES (102, 'after rewind')")
		waitCount(t, a, "SELECT count(*) FROM t", 102)
		waitCount(t, a, "SELECT count(*) FROM t WHERE note LIKE 'divergent%'", 0)
		waitStreaming(t, a, 2)
	})
}
