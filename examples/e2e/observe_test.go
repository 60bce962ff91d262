package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// watchLeader starts recording leader key changes until the test ends.
func (h *harness) watchLeader(t *testing.T) *localcluster.LeaderWatch {
	t.Helper()
	lw, err := localcluster.WatchLeader(h.ctx, h.etcd, h.prefix+dcs.KeyLeader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Stop)
	return lw
}

// ms formats a duration in milliseconds for the test log.
func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// primaryProbe checks one node every 100 ms from before a fault until
// Stop: GET /primary must answer 200 and the postmaster must stay the same
// process. It records what it saw, for a "no demotion" assertion that also
// covers the moments while the fault is being injected.
type primaryProbe struct {
	*statusProbe
	pid int
}

// probePrimary starts probing node name whose postmaster runs as pid.
func (h *harness) probePrimary(t *testing.T, name string, pid int) *primaryProbe {
	t.Helper()
	return &primaryProbe{statusProbe: h.probeStatus(t, name), pid: pid}
}

// Result returns the number of probes, how many failed and the first
// failure.
func (p *primaryProbe) Result() (probes, notOK int, first string) {
	for _, s := range p.samples() {
		probes++
		bad := ""
		switch {
		case s.Postmaster != p.pid:
			bad = fmt.Sprintf("postmaster pid %d -> %d", p.pid, s.Postmaster)
		case s.Primary != 200:
			bad = fmt.Sprintf("GET /primary answered %d", s.Primary)
		}
		if bad != "" {
			notOK++
			if first == "" {
				first = s.At.Format("15:04:05.000") + ": " + bad
			}
		}
	}
	return probes, notOK, first
}

// since formats at - from for the test log, "not seen" when at is zero.
func since(from, at time.Time) string {
	if at.IsZero() {
		return "(not seen)"
	}
	return ms(at.Sub(from))
}

// clock formats a time of day for the test log.
func clock(at time.Time) string {
	if at.IsZero() {
		return "(never)"
	}
	return at.Format("15:04:05.000")
}

// observe starts a localcluster.Observer on the healthy cluster led by
// leader (writes through HAProxy and directly on every node, every node's
// PostgreSQL state, the leader key's changes); it is stopped at the end of
// the test at the latest.
func (h *harness) observe(t *testing.T, leader string) *localcluster.Observer {
	t.Helper()
	obs, err := h.c.StartObserver(h.ctx, leader, waitTimeout)
	if err != nil {
		t.Fatalf("start recording: %v", err)
	}
	t.Cleanup(obs.Stop)
	return obs
}

// switchPoint returns where the newest timeline of promoted, which a
// fault promoted, branched off the old one.
func (h *harness) switchPoint(t *testing.T, rec localcluster.Recording, promoted string) int64 {
	t.Helper()
	var tl int64
	for _, s := range rec.States {
		if s.Node == promoted && s.Primary {
			tl = max(tl, s.Timeline)
		}
	}
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	sp, err := h.c.SwitchPoint(ctx, promoted, tl)
	if err != nil {
		t.Fatalf("the timeline history of %s: %v", promoted, err)
	}
	t.Logf("timeline %d of %s branched off at %X", tl, promoted, sp)
	return sp
}

// diverged reports whether d, a restart of a node the fault did not
// concern, was needed because the node had WAL of the old timeline beyond
// switchAt, where the promotion of promoted branched off: such a replica
// must be rewound, which restarts it. (An asynchronous replica can receive
// WAL that the synchronous standby promoted in its place has not.)
func diverged(t *testing.T, rec localcluster.Recording, d localcluster.Disruption, promoted string, switchAt int64) bool {
	t.Helper()
	had := localcluster.WALBefore(rec.WAL[d.Node], d.At)
	t.Logf("%s had WAL to %X before it restarted, %s's timeline branched off at %X", d.Node, had, promoted, switchAt)
	return had > switchAt
}

// judge stops obs and fails the test for what its recording shows of a
// fault at faultAt on the cluster that leader led: two nodes acknowledging
// writes at once, an acknowledged write missing on the final primary, and
// any demotion, promotion or restart of a node not in roles. roles names
// what the fault did to a node: "promoted" lets it be promoted, anything
// else lets it be demoted and restarted; a new timeline is allowed only
// with a promotion, and with one, a restart of another node only when it
// had diverged from the promoted node's new timeline. The longest write gaps from faultAt until until are
// logged. It returns the recording.
func (h *harness) judge(t *testing.T, obs *localcluster.Observer, leader string, faultAt, until time.Time, roles map[string]string) localcluster.Recording {
	t.Helper()
	obs.Stop()
	rec := obs.Recording()
	a := localcluster.Analyze(rec, leader, faultAt, until)
	proxyErr, directErr := obs.Recorder().Errors()
	t.Logf("longest write gap from the fault until %s later: %s through HAProxy, %s directly; %d failed attempts through HAProxy, %d direct (mostly the read-only replicas refusing)",
		ms(until.Sub(faultAt)), ms(a.ProxyGap.Duration()), ms(a.DirectGap.Duration()), proxyErr, directErr)
	checkOneWriter(t, a)
	promoted := ""
	for node, role := range roles {
		if role == "promoted" {
			promoted = node
		}
	}
	var switchAt int64
	if promoted != "" {
		switchAt = h.switchPoint(t, rec, promoted)
	}
	for _, d := range a.Disruptions {
		role, named := roles[d.Node]
		switch {
		case d.Kind == localcluster.NewTimeline && promoted != "":
		case d.Kind == localcluster.Promoted && role == "promoted":
		case (d.Kind == localcluster.Demoted || d.Kind == localcluster.Restarted) && named && role != "promoted":
		case d.Kind == localcluster.Restarted && !named && promoted != "" && diverged(t, rec, d, promoted, switchAt):
			role = "diverged"
		default:
			t.Errorf("not needed: %s", d)
			continue
		}
		t.Logf("%s (%s)", d, role)
	}
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	res, err := obs.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writes: %d acknowledged, %d found on %s, %d lost", res.Acked, res.Found, res.Primary, res.Lost)
	checkNothingLost(t, res)
	return rec
}

// statusSample is one probe of a node: GET /primary's status (0 when the
// request failed), failsafe_mode_is_active in GET /patroni (PatroniOK
// false when that failed) and the postmaster's pid (0 when none runs).
type statusSample struct {
	At         time.Time
	Primary    int
	PatroniOK  bool
	Failsafe   bool
	Postmaster int
}

// statusProbe probes one node every 100 ms until Stop, for what its REST
// API said during a fault: whether failsafe mode kept it primary, when it
// fenced.
type statusProbe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	list []statusSample
}

// probeStatus starts probing node name; it is stopped at the end of the
// test at the latest.
func (h *harness) probeStatus(t *testing.T, name string) *statusProbe {
	t.Helper()
	n := h.c.Node(name)
	if n == nil {
		t.Fatalf("unknown node %s", name)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	p := &statusProbe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s := statusSample{At: time.Now(), Primary: h.c.PrimaryStatus(ctx, name)}
			var doc struct {
				Failsafe bool `json:"failsafe_mode_is_active"`
			}
			if code, body, err := apiGet(ctx, n, "/patroni"); err == nil && (code == http.StatusOK || code == http.StatusServiceUnavailable) {
				s.PatroniOK = json.Unmarshal(body, &doc) == nil
				s.Failsafe = doc.Failsafe
			}
			s.Postmaster, _ = n.PostmasterPID()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.list = append(p.list, s)
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the probing; it is idempotent.
func (p *statusProbe) Stop() {
	p.cancel()
	<-p.done
}

// samples returns a copy of the probes so far.
func (p *statusProbe) samples() []statusSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.list)
}

// first returns the first probe after at that match accepts.
func (p *statusProbe) first(at time.Time, match func(statusSample) bool) (statusSample, bool) {
	for _, s := range p.samples() {
		if s.At.After(at) && match(s) {
			return s, true
		}
	}
	return statusSample{}, false
}

// count returns the number of probes within (from, until) and how many
// of them match accepts.
func (p *statusProbe) count(from, until time.Time, match func(statusSample) bool) (probes, matched int) {
	for _, s := range p.samples() {
		if !s.At.After(from) || !s.At.Before(until) {
			continue
		}
		probes++
		if match(s) {
			matched++
		}
	}
	return probes, matched
}
