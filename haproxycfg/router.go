package haproxycfg

import (
	"context"

	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/pgha/pgha/dcs"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runtimeCallTimeout bounds one runtime API exchange of the Router: a
// socket that does not answer (HAProxy busy reloading) is retried on the
// next reconciliation instead of stalling routing.
const runtimeCallTimeout = 2 * time.Second

// Admin state bits of "show servers state" (srv_admin_state).
const (
	adminForcedMaint = 0x01 // SRV_ADMF_FMAINT: "set server ... state maint"
	adminConfigMaint = 0x04 // SRV_ADMF_CMAINT: "disabled" in the configuration
	adminForcedDrain = 0x08 // SRV_ADMF_FDRAIN: "set server ... state drain"
)

// RouterOptions configures a [Router].
type RouterOptions struct {
	// StatsSocket is HAProxy's admin-level runtime API socket. Required.
	StatsSocket string
	// Backend is the read-write listener; default [ProxyPrimary].
	Backend string
	// CheckTLS, CheckCAFile and CheckInsecureSkipVerify are used for the
	// Router's own /primary probe exactly as [Options] uses them for
	// HAProxy's checks; pass the rendering options' values.
	CheckTLS                bool
	CheckCAFile             string
	CheckInsecureSkipVerify bool
	// ProbeTimeout bounds one /primary probe (default 1 s); ProbeInterval
	// is the pause between probes of a new leader that does not answer 200
	// yet (default 100 ms).
	ProbeTimeout  time.Duration
	ProbeInterval time.Duration
	// LeaderProbeInterval is how often the Router probes the /primary of
	// the leader it has enabled (default 200 ms; negative disables). A
	// failed probe drains the server (no new connections, established
	// sessions kept) until /primary answers 200 again, so connections are
	// not sent to a primary that is stopping or gone while the DCS still
	// names it (HAProxy would retry them after a one-second turn-around).
	LeaderProbeInterval time.Duration
	// ReconcileInterval is how often the Router compares HAProxy's runtime
	// state with the DCS verdict and repairs it (after a reload, a restart
	// or an operator's change); default 1 s.
	ReconcileInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// RouterStatus describes what a [Router] knows and did.
type RouterStatus struct {
	// Known reports whether the DCS verdict was ever received.
	Known bool
	// Leader is the member the DCS names as leader ("" for none).
	Leader string
	// Routed is the server the Router has enabled in the read-write
	// backend ("" for none): Leader once its /primary probe answered 200.
	Routed string
	// Demotions counts servers put into maintenance; Promotions counts
	// servers enabled.
	Demotions  int
	Promotions int
	// Drains counts leaders drained because their /primary stopped
	// answering 200 while the DCS still named them.
	Drains int
	// Reconciles counts completed comparisons of the runtime state with
	// the verdict.
	Reconciles int
	// Err is the last runtime API or probe error, nil after a success.
	Err error
}

// Router pushes the DCS leader into HAProxy's read-write backend through the
// runtime API, so that routing follows a leader change at once instead of
// after HAProxy's health checks notice it.
//
// # Rule
//
// A server of the read-write backend is enabled (admin state ready) only
// while the DCS names it leader and the Router's own probe of its /primary
// has answered 200; every other server is in forced maintenance. HAProxy's
// checks stay on as a second opinion: an enabled server whose /primary stops
// answering 200 goes down after its fall count, as without the Router.
//
// When the leader changes from A to B, the Router first puts A into
// maintenance and shuts its sessions down ("set server primary/A state
// maint", "shutdown sessions server primary/A"), then probes B's /primary
// until it answers 200 (B may still be promoting) and enables it ("set
// server primary/B state ready", "set server primary/B health up": the
// probe just agreed, so HAProxy does not wait for rise checks). Both servers
// are never enabled together.
//
// While the leader is enabled the Router keeps probing its /primary
// ([RouterOptions.LeaderProbeInterval]); when it fails (a primary stopping
// for a switchover, a crashed node whose key has not expired yet) the
// server is drained, without cutting established sessions, and enabled
// again once /primary answers 200.
//
// A switchover or failover request in the DCS (the failover key, see
// [HandingOver]) drains the leader as soon as it is written: the leader is
// about to stop, so new connections are refused at once instead of being
// sent to a server that refuses them (which HAProxy retries only after a
// one-second turn-around); established sessions continue until the leader
// ends them. A request that is withdrawn re-enables the leader.
//
// HAProxy does not run health checks on a server in maintenance, so a
// member that answers 200 on /primary without holding the leader key (a
// stale primary) is not even checked: it gets no writes.
//
// # When the DCS is unknown
//
// With [Options.RuntimeRouting] the rendered configuration starts every
// read-write server disabled, so nothing is routed writes before the Router
// has read the DCS. A proxy that then loses the DCS keeps the last verdict
// it received: it never enables a server the DCS has not named leader, and
// the last named leader keeps writes only while HAProxy's /primary check
// passes (a leader that loses its lease stops answering 200 there). A
// partitioned proxy therefore stops routing writes rather than route them
// to two primaries; it resumes when it reads the DCS again. A leader key
// that expires or is deleted (no leader) puts every server into
// maintenance.
//
// Call [Router.SetLeader] on every DCS change ([Syncer] does it when
// [SyncerOptions.Router] is set) and run [Router.Run].
type Router struct {
	o      RouterOptions
	log    *slog.Logger
	client *http.Client

	wake chan struct{}

	mu       sync.Mutex
	known    bool
	leader   string
	failover *dcs.Failover
	servers  map[string]Server
	status   RouterStatus
}

// NewRouter checks the options and returns a Router; call Run to start it.
func NewRouter(o RouterOptions) (*Router, error) {
	if err := validatePath("StatsSocket", o.StatsSocket); err != nil {
		return nil, err
	}
	if o.Backend == "" {
		o.Backend = ProxyPrimary
	}
	if err := validateName("", "Backend", o.Backend); err != nil {
		return nil, err
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = time.Second
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 100 * time.Millisecond
	}
	if o.ReconcileInterval <= 0 {
		o.ReconcileInterval = time.Second
	}
	if o.LeaderProbeInterval == 0 {
		o.LeaderProbeInterval = 200 * time.Millisecond
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CheckCAFile != "" {
		if o.CheckInsecureSkipVerify {
			return nil, fieldErr("", "CheckInsecureSkipVerify", "set together with CheckCAFile; choose one")
		}
		pem, err := os.ReadFile(o.CheckCAFile)
		if err != nil {
			return nil, fmt.Errorf("haproxycfg: router CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr("", "CheckCAFile", "%s holds no PEM certificate", quoteShort(o.CheckCAFile))
		}
		tlsCfg.RootCAs = pool
	}
	tlsCfg.InsecureSkipVerify = o.CheckInsecureSkipVerify
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Router{
		o:   o,
		log: log.With("component", "haproxycfg.router"),
		client: &http.Client{
			Timeout: o.ProbeTimeout,
			Transport: &http.Transport{
				TLSClientConfig:   tlsCfg,
				DisableKeepAlives: true,
				Proxy:             nil,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake: make(chan struct{}, 1),
	}, nil
}

// SetLeader records the DCS verdict: leader is the member holding the
// leader key ("" when there is none) and servers are the cluster's members
// (the leader's health API address is taken from them). It does not block;
// Run applies the latest verdict. It is SetVerdict without a handover.
func (r *Router) SetLeader(leader string, servers []Server) {
	r.SetVerdict(Verdict{Leader: leader, Servers: servers})
}

// Verdict is what the DCS says about routing writes.
type Verdict struct {
	// Leader holds the leader key ("" for none).
	Leader string
	// Servers are the cluster's members.
	Servers []Server
	// Failover is the failover key (nil when absent). While it asks
	// Leader to hand over ([HandingOver], evaluated again on every
	// reconciliation, so a scheduled switchover counts once it is due),
	// the leader is drained: new connections are refused at once,
	// sessions are kept until it stops.
	Failover *dcs.Failover
}

// HandingOver reports whether the failover key f asks the current leader
// to hand over now: a switchover from leader (or from whoever leads) to
// another member, or a failover to a member other than leader, that is not
// scheduled in the future.
func HandingOver(f *dcs.Failover, leader string, now time.Time) bool {
	if f.IsZero() || leader == "" {
		return false
	}
	if f.Leader != "" && f.Leader != leader {
		return false
	}
	if f.Member == leader {
		return false
	}
	return f.ScheduledAt == nil || !f.ScheduledAt.After(now)
}

// SetVerdict records the DCS verdict; it does not block.
func (r *Router) SetVerdict(v Verdict) {
	leader := v.Leader
	m := make(map[string]Server, len(v.Servers))
	for _, s := range v.Servers {
		m[s.Name] = s
	}
	r.mu.Lock()
	changed := !r.known || r.leader != leader
	r.known, r.leader, r.servers, r.failover = true, leader, m, v.Failover
	r.status.Known, r.status.Leader = true, leader
	r.mu.Unlock()
	if changed {
		r.log.Info("leader from the DCS", "leader", leader)
	}
	r.poke()
}

// poke makes Run reconcile now.
func (r *Router) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Status returns what the Router knows and did.
func (r *Router) Status() RouterStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Run applies the DCS verdict on every [Router.SetLeader] and every
// ReconcileInterval until ctx ends; it returns ctx's error.
func (r *Router) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.ReconcileInterval)
	defer t.Stop()
	var probeC <-chan time.Time
	if r.o.LeaderProbeInterval > 0 {
		pt := time.NewTicker(r.o.LeaderProbeInterval)
		defer pt.Stop()
		probeC = pt.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		case <-t.C:
		case <-probeC:
			if !r.leaderFailsProbe(ctx) {
				continue
			}
		}
		err := r.reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("runtime routing", "err", err)
		}
		r.mu.Lock()
		r.status.Err = err
		r.mu.Unlock()
	}
}

// leaderFailsProbe probes the enabled leader once; when it does not answer
// 200 it drains it and reports true (reconcile then waits for it to agree
// again, or for another verdict).
func (r *Router) leaderFailsProbe(ctx context.Context) bool {
	r.mu.Lock()
	routed := r.status.Routed
	srv, ok := r.servers[routed]
	r.mu.Unlock()
	if routed == "" || !ok {
		return false
	}
	err := r.probe(ctx, srv)
	if err == nil || ctx.Err() != nil {
		return false
	}
	if cerr := r.command(ctx, "set server "+r.o.Backend+"/"+routed+" state drain"); cerr != nil {
		r.log.Warn("drain the leader", "server", routed, "err", cerr)
		return false
	}
	r.mu.Lock()
	r.status.Routed = ""
	r.status.Drains++
	r.mu.Unlock()
	r.log.Info("leader drained: its /primary does not agree", "server", routed, "err", err)
	return true
}

// verdict returns the current DCS verdict.
func (r *Router) verdict() (known bool, leader string, srv Server, haveSrv bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	srv, haveSrv = r.servers[r.leader]
	return r.known, r.leader, srv, haveSrv
}

func (r *Router) handingOver() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return HandingOver(r.failover, r.leader, time.Now())
}

// reconcile makes the runtime state of the read-write backend follow the
// verdict: demote first, then enable the leader once its probe agrees.
func (r *Router) reconcile(ctx context.Context) error {
	known, leader, srv, haveSrv := r.verdict()
	if !known {
		return nil // the configuration starts every server disabled
	}
	sctx, cancel := context.WithTimeout(ctx, runtimeCallTimeout)
	states, err := ServerStates(sctx, r.o.StatsSocket)
	cancel()
	if err != nil {
		return err
	}
	var leaderState *ServerState
	for i, s := range states {
		if s.Backend != r.o.Backend {
			continue
		}
		if s.Server == leader {
			leaderState = &states[i]
			continue
		}
		if s.AdminState&adminForcedMaint != 0 {
			continue
		}
		if err := r.demote(ctx, s.Server); err != nil {
			return err
		}
	}
	routed := ""
	if leaderState != nil && r.handingOver() {
		// A handover is due: drain the leader (unless in maintenance).
		if leaderState.AdminState&(adminForcedMaint|adminForcedDrain) == 0 {
			if err := r.command(ctx, "set server "+r.o.Backend+"/"+leader+" state drain"); err != nil {
				return err
			}
			r.mu.Lock()
			r.status.Drains++
			r.mu.Unlock()
			r.log.Info("leader drained: handover requested in the DCS", "server", leader)
		}
	} else if leaderState != nil {
		if leaderState.AdminState&(adminForcedMaint|adminForcedDrain) == 0 {
			routed = leader
		} else if haveSrv {
			ok, err := r.probeUntil(ctx, leader, srv)
			if err != nil {
				return err
			}
			if ok {
				if err := r.promote(ctx, leader); err != nil {
					return err
				}
				routed = leader
			}
		}
	}
	r.mu.Lock()
	r.status.Routed = routed
	r.status.Reconciles++
	r.mu.Unlock()
	return nil
}

// demote puts one server into maintenance and cuts its sessions.
func (r *Router) demote(ctx context.Context, name string) error {
	start := time.Now()
	if err := r.command(ctx, "set server "+r.o.Backend+"/"+name+" state maint"); err != nil {
		return err
	}
	if err := r.command(ctx, "shutdown sessions server "+r.o.Backend+"/"+name); err != nil {
		return err
	}
	r.mu.Lock()
	r.status.Demotions++
	r.mu.Unlock()
	r.log.Info("server out of the read-write backend", "server", name, "took", time.Since(start))
	return nil
}

// promote enables the leader's server and marks it up.
func (r *Router) promote(ctx context.Context, name string) error {
	if err := r.command(ctx, "set server "+r.o.Backend+"/"+name+" state ready"); err != nil {
		return err
	}
	if err := r.command(ctx, "set server "+r.o.Backend+"/"+name+" health up"); err != nil {
		return err
	}
	r.mu.Lock()
	r.status.Promotions++
	r.mu.Unlock()
	r.log.Info("leader in the read-write backend", "server", name)
	return nil
}

// probeUntil probes the leader's /primary until it answers 200 (true), the
// verdict changes (false) or ctx ends (its error).
func (r *Router) probeUntil(ctx context.Context, leader string, srv Server) (bool, error) {
	var last error
	for i := 0; ; i++ {
		if err := r.probe(ctx, srv); err == nil {
			return true, nil
		} else {
			last = err
		}
		if i == 0 {
			r.log.Info("waiting for the new leader's /primary to agree", "leader", leader, "err", last)
		}
		t := time.NewTimer(r.o.ProbeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-r.wake:
			t.Stop()
			// Another verdict: start over from reconcile (re-arm the wake-up
			// so Run does not wait for the next tick).
			select {
			case r.wake <- struct{}{}:
			default:
			}
			if _, l, _, _ := r.verdict(); l != leader || r.handingOver() {
				return false, nil
			}
		case <-t.C:
		}
	}
}

// probe asks srv's health API for /primary and wants 200.
func (r *Router) probe(ctx context.Context, srv Server) error {
	scheme := "http"
	if srv.CheckTLS || r.o.CheckTLS {
		scheme = "https"
	}
	u := scheme + "://" + net.JoinHostPort(srv.checkHost(), strconv.Itoa(srv.CheckPort)) + "/primary"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("haproxycfg: probe %s: %w", u, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("haproxycfg: probe %s: %w", u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("haproxycfg: probe %s: status %d", u, resp.StatusCode)
	}
	return nil
}

// command sends one runtime API command whose success answer is empty.
func (r *Router) command(ctx context.Context, cmd string) error {
	ctx, cancel := context.WithTimeout(ctx, runtimeCallTimeout)
	defer cancel()
	out, err := RuntimeCommand(ctx, r.o.StatsSocket, cmd)
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" {
		return fmt.Errorf("haproxycfg: runtime API %q: %s", cmd, quoteShort(msg))
	}
	return nil
}
