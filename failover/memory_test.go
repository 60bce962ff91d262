package failover

import (
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// TestMemory replays cycles through the reducer: what a node remembers of
// its past, and when it forgets it, read like the rules.
func TestMemory(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tl := func(v int64) *int64 { return &v }
	leader := func(rev int64, timeline int64) *dcs.Cluster {
		return &dcs.Cluster{Leader: &dcs.Leader{Name: "a", Revision: rev},
			Members: []*dcs.Member{{Name: "a", Timeline: tl(timeline)}}}
	}
	noLeader := &dcs.Cluster{}
	streaming := func(recv pg.LSN, receipt time.Time) pg.Status {
		return pg.Status{State: pg.StateRunning, Role: pg.RoleReplica, Timeline: 1, SystemID: 7,
			ReceiveLSN: recv, ReplayLSN: recv, Receiver: pg.ReceiverStreaming, LastMsgReceiptTime: receipt}
	}
	running := func() pg.Status { return streaming(0x3000000, at(0)) }
	down := func(s pg.ProcessState) pg.Status { return pg.Status{State: s} }
	see := func(s int, cl *dcs.Cluster, st pg.Status) sighting {
		return sighting{Cluster: cl, ClusterAt: at(s), Status: st, StatusKnown: true, At: at(s)}
	}
	type step struct {
		do    func(memory) memory // an action's outcome before the sighting, or nil
		see   sighting
		check func(memory, LocalStatus) string
	}
	want := func(what string, got, want any) string {
		if got != want {
			return what + ": got " + toString(got) + ", want " + toString(want)
		}
		return ""
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"leader vanished: first sight is kept, a leader clears it", []step{
			{see: see(1, noLeader, running()), check: func(m memory, _ LocalStatus) string { return want("vanished", m.leaderVanishedAt, at(1)) }},
			{see: see(2, noLeader, running()), check: func(m memory, _ LocalStatus) string { return want("vanished", m.leaderVanishedAt, at(1)) }},
			{see: see(3, nil, running()), check: func(m memory, _ LocalStatus) string { return want("DCS unread: kept", m.leaderVanishedAt, at(1)) }},
			{see: see(4, leader(10, 1), running()), check: func(m memory, _ LocalStatus) string { return want("vanished", m.leaderVanishedAt, time.Time{}) }},
		}},
		{"divergence verdict: void under a new leader key or a new timeline of its leader", []step{
			{see: see(1, leader(10, 1), running())},
			{do: func(m memory) memory { return m.judged("a", 1, false) }, see: see(2, leader(10, 1), running()),
				check: func(_ memory, l LocalStatus) string { return want("verdict", l.Divergence, DivergenceNone) }},
			{see: see(3, leader(10, 2), running()),
				check: func(_ memory, l LocalStatus) string { return want("new timeline", l.Divergence, DivergenceUnknown) }},
			{do: func(m memory) memory { return m.judged("a", 2, true).rewindFailedNow() }, see: see(4, leader(10, 2), running()),
				check: func(_ memory, l LocalStatus) string {
					return want("verdict", l.Divergence, DivergenceDiverged) + want("rewind failed", l.RewindFailed, true)
				}},
			{see: see(5, leader(11, 2), running()),
				check: func(_ memory, l LocalStatus) string {
					return want("new leader key", l.Divergence, DivergenceUnknown) + want("rewind failed", l.RewindFailed, false)
				}},
		}},
		{"outage: crash and down times belong to one outage", []step{
			{see: see(1, nil, down(pg.StateCrashed)), check: func(_ memory, l LocalStatus) string {
				return want("crashed", l.CrashedAt, at(1)) + want("down", l.DownSince, at(1))
			}},
			{see: see(2, nil, down(pg.StateStopped)), check: func(_ memory, l LocalStatus) string {
				return want("crashed", l.CrashedAt, at(1)) + want("down", l.DownSince, at(1))
			}},
			{see: see(3, nil, running()), check: func(_ memory, l LocalStatus) string {
				return want("crashed", l.CrashedAt, time.Time{}) + want("down", l.DownSince, time.Time{})
			}},
			{see: see(4, nil, down(pg.StateStopped)), check: func(_ memory, l LocalStatus) string {
				return want("crashed", l.CrashedAt, time.Time{}) + want("down", l.DownSince, at(4))
			}},
		}},
		{"status unknown: nothing local is learnt", []step{
			{see: see(1, nil, running())},
			{see: sighting{ClusterAt: at(2), Status: down(pg.StateCrashed), At: at(2)}, check: func(m memory, _ LocalStatus) string {
				return want("crashed", m.crashedAt, time.Time{})
			}},
		}},
		{"system identifier: read from the server, forgotten with the data", []step{
			{see: see(1, nil, running()), check: func(_ memory, l LocalStatus) string { return want("sysid", l.SystemID, "7") }},
			{see: see(2, nil, down(pg.StateStopped)), check: func(_ memory, l LocalStatus) string { return want("stopped", l.SystemID, "7") }},
			{see: func() sighting { s := see(3, nil, down(pg.StateStopped)); s.DataEmpty = true; return s }(),
				check: func(_ memory, l LocalStatus) string {
					return want("empty", l.SystemID, "") + want("data empty", l.DataEmpty, true)
				}},
		}},
		{"actions: start, follow, clone, wipe", []step{
			{do: func(m memory) memory { return m.started(at(1)).followed("a") }, see: see(1, nil, running()),
				check: func(_ memory, l LocalStatus) string {
					return want("start", l.LastStartAttempt, at(1)) + want("following", l.Following, "a")
				}},
			{do: func(m memory) memory { return m.cloned("a", 3) }, see: see(2, nil, down(pg.StateStopped)),
				check: func(m memory, l LocalStatus) string {
					return want("following", l.Following, "") + want("verdict", l.Divergence, DivergenceNone) +
						want("against", m.divergenceTL, int64(3)) + want("sysid", l.SystemID, "")
				}},
			{do: func(m memory) memory { return m.wiped(false) }, see: see(3, nil, down(pg.StateStopped)),
				check: func(_ memory, l LocalStatus) string { return want("verdict", l.Divergence, DivergenceUnknown) }},
		}},
		// The false-failover guard input (LastWALReceiptAt) is the WAL
		// receiver's last_msg_receipt_time, so an idle cluster whose
		// received LSN stands still is still "receiving"; the LSN advance is
		// only a fallback when the time is missing while streaming.
		{"WAL receipt: idle cluster, receipt time advances, LSN does not", []step{
			{see: see(0, nil, streaming(0x3000000, at(-1))), check: receipt(at(-1))},
			{see: see(10, nil, streaming(0x3000000, at(9))), check: receipt(at(9))},
		}},
		{"WAL receipt: receipt time wins over a fresher LSN advance", []step{
			{see: see(0, nil, streaming(0x3000000, at(-5))), check: receipt(at(-5))},
			{see: see(1, nil, streaming(0x3000100, at(-5))), check: receipt(at(-5))},
		}},
		{"WAL receipt: fallback, no receipt time, LSN advance counts", []step{
			{see: see(0, nil, streaming(0x3000000, time.Time{})), check: receipt(at(0))},
			{see: see(10, nil, streaming(0x3000000, time.Time{})), check: receipt(at(0))},
			{see: see(20, nil, streaming(0x3000100, time.Time{})), check: receipt(at(20))},
		}},
		{"WAL receipt: not streaming, none", []step{
			{see: see(0, nil, pg.Status{State: pg.StateRunning, Role: pg.RoleReplica, Timeline: 1, ReceiveLSN: 0x3000000}), check: receipt(time.Time{})},
			{see: see(1, nil, pg.Status{State: pg.StateRunning, Role: pg.RolePrimary, Timeline: 2, FlushLSN: 0x3000100}), check: receipt(time.Time{})},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m memory
			for i, s := range tc.steps {
				if s.do != nil {
					m = s.do(m)
				}
				m = m.next(s.see)
				if s.check == nil {
					continue
				}
				if msg := s.check(m, m.local(s.see)); msg != "" {
					t.Fatalf("step %d: %s", i, msg)
				}
			}
		})
	}
}

func receipt(want time.Time) func(memory, LocalStatus) string {
	return func(_ memory, l LocalStatus) string {
		if !l.LastWALReceiptAt.Equal(want) {
			return "LastWALReceiptAt: got " + toString(l.LastWALReceiptAt) + ", want " + toString(want)
		}
		return ""
	}
}

func toString(v any) string { return fmt.Sprint(v) }
