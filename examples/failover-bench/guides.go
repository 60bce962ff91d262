package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/examples/internal/localcluster"
	"github.com/pgha/pgha/haproxycfg"
)

// The guides' scenarios run node-crash and switchover through a second
// HAProxy with the Patroni guides' check settings (inter 3s fall 3 rise 2),
// once with checks alone and once with haproxycfg's runtime-API routing (a
// Syncer and a Router on the cluster's etcd: what pgha-proxy runs), so
// their figures stand side by side. The writer of those scenarios goes
// through that HAProxy instead of the cluster's own.
const (
	guideInter = 3 * time.Second
	guideRise  = 2
	guideFall  = 3
)

// guideScenarios are node-crash and switchover through the guides' HAProxy,
// without and with runtime-API routing.
func guideScenarios() []scenario {
	var list []scenario
	for _, routed := range []bool{false, true} {
		suffix, how := "guides-checks", "checks only"
		if routed {
			suffix, how = "guides-routed", "checks + runtime-API routing on the leader key"
		}
		setup := func(ctx context.Context, b *bench) error { return b.startGuideProxy(ctx, routed) }
		teardown := func(ctx context.Context, b *bench) error { return b.stopGuideProxy() }
		list = append(list,
			scenario{
				Name:        "node-crash-" + suffix,
				Description: "node-crash through an HAProxy with the guides' checks (inter 3s fall 3 rise 2), " + how,
				setup:       setup, teardown: teardown, run: runNodeCrash,
			},
			scenario{
				Name:        "switchover-" + suffix,
				Description: "switchover through an HAProxy with the guides' checks (inter 3s fall 3 rise 2), " + how,
				setup:       setup, teardown: teardown, run: runSwitchover,
			})
	}
	return list
}

// guideProxy is the extra HAProxy (and its Syncer with Router when routed).
type guideProxy struct {
	dir    string
	socket string
	proc   *haproxycfg.Process
	router *haproxycfg.Router
	cancel context.CancelFunc
	done   chan struct{}
}

// startGuideProxy starts the guides' HAProxy on a free port and points the
// writer at it.
func (b *bench) startGuideProxy(ctx context.Context, routed bool) error {
	if b.guide != nil {
		return errors.New("guides' HAProxy already running")
	}
	dir, err := os.MkdirTemp("", "pgha-bench-guide-")
	if err != nil {
		return err
	}
	g := &guideProxy{dir: dir}
	fail := func(err error) error {
		g.stop(b.log)
		return err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	o := haproxycfg.DefaultOptions()
	o.BindAddress = "127.0.0.1"
	o.ReadWritePort, o.ReadOnlyPort, o.StatsPort = port, 0, 0
	o.CheckInterval, o.FastInterval, o.DownInterval = guideInter, guideInter, guideInter
	o.Rise, o.Fall = guideRise, guideFall
	o.StatsSocket = filepath.Join(dir, "admin.sock")
	o.ServerStateFile = filepath.Join(dir, "server-state")
	o.RuntimeRouting = routed
	var servers []haproxycfg.Server
	if !routed {
		// Static membership, as the cluster's own HAProxy.
		for _, n := range b.c.Nodes() {
			u, err := url.Parse(n.APIURL())
			if err != nil {
				return fail(err)
			}
			apiPort, err := strconv.Atoi(u.Port())
			if err != nil {
				return fail(fmt.Errorf("API port of %s: %w", n.Name(), err))
			}
			servers = append(servers, haproxycfg.Server{Name: n.Name(), Host: "127.0.0.1", Port: n.PGPort(), CheckPort: apiPort})
		}
	}
	cfg, err := haproxycfg.Render(servers, o)
	if err != nil {
		return fail(err)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := haproxycfg.WriteFileAtomic(cfgPath, cfg, 0o600); err != nil {
		return fail(err)
	}
	g.proc, err = haproxycfg.NewProcess(haproxycfg.ProcessConfig{ConfigPath: cfgPath, StatsSocket: o.StatsSocket,
		ServerStateFile: o.ServerStateFile, Logger: b.log})
	if err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := g.proc.Start(sctx); err != nil {
		return fail(err)
	}
	if routed {
		cfg, _, err := agentconfig.Load(b.c.Nodes()[0].ConfigPath(), nil)
		if err != nil {
			return fail(err)
		}
		store, err := cfg.NewStore(b.log)
		if err != nil {
			return fail(err)
		}
		g.router, err = haproxycfg.NewRouter(haproxycfg.RouterOptions{StatsSocket: o.StatsSocket, Logger: b.log})
		if err != nil {
			_ = store.Close()
			return fail(err)
		}
		syncer, err := haproxycfg.NewSyncer(store, haproxycfg.SyncerOptions{Render: o, ConfigPath: cfgPath, Reloader: g.proc,
			Router: g.router, Logger: b.log})
		if err != nil {
			_ = store.Close()
			return fail(err)
		}
		rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
		g.cancel, g.done = rcancel, make(chan struct{})
		go func() {
			defer close(g.done)
			defer store.Close()
			_ = syncer.Run(rctx)
		}()
	}
	// HAProxy starts servers without a saved state up until their checks
	// fail (fall 3 x inter 3s with the guides' settings): wait until only
	// one server of the read-write listener is routable, so no
	// repetition starts while a replica still counts as up.
	g.socket = o.StatsSocket
	if err := b.waitGuideSettled(ctx, g); err != nil {
		return fail(err)
	}
	user, password := b.c.Credentials()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=2&application_name=failover-bench-guides"}
	b.guide, b.writerDSN = g, u.String()
	return nil
}

// waitGuideSettled waits until exactly one server of the guides' read-write
// listener is routable (up, not in maintenance or drained).
func (b *bench) waitGuideSettled(ctx context.Context, g *guideProxy) error {
	wctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := localcluster.Poll(wctx, 100*time.Millisecond, func() error {
		sctx, scancel := context.WithTimeout(wctx, 2*time.Second)
		defer scancel()
		states, err := haproxycfg.ServerStates(sctx, g.socket)
		if err != nil {
			return err
		}
		var up []string
		for _, s := range states {
			if s.Backend == haproxycfg.ProxyPrimary && s.Up && !s.Maint && !s.Drain {
				up = append(up, s.Server)
			}
		}
		if len(up) != 1 {
			return fmt.Errorf("read-write servers up: %v", up)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the guides' HAProxy did not settle: %w", err)
	}
	return nil
}

// stopGuideProxy stops the guides' HAProxy and points the writer back at
// the cluster's.
func (b *bench) stopGuideProxy() error {
	if b.guide != nil {
		b.guide.stop(b.log)
	}
	b.guide, b.writerDSN = nil, ""
	return nil
}

func (g *guideProxy) stop(log *slog.Logger) {
	if g.cancel != nil {
		g.cancel()
		<-g.done
	}
	if g.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := g.proc.Stop(ctx); err != nil {
			log.Warn("stop the guides' haproxy", "err", err)
		}
		cancel()
	}
	_ = os.RemoveAll(g.dir)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// offLeaderWrites counts the acknowledged writes whose node the DCS did not
// name as leader at any moment from the insert being sent until 100 ms
// after its acknowledgement (the leader watch sees a change a little after
// it happens). leader is the leader before the first event.
func offLeaderWrites(acks []localcluster.Ack, events []localcluster.LeaderEvent, leader string) int {
	const slack = 100 * time.Millisecond
	n := 0
	for _, a := range acks {
		if a.Node == "" {
			continue
		}
		cur, ok := leader, false
		for _, ev := range events {
			if ev.At.After(a.At.Add(slack)) {
				break
			}
			if !ev.At.After(a.Sent) {
				cur = ev.Name
				continue
			}
			if ev.Name == a.Node {
				ok = true
			}
		}
		if cur == a.Node {
			ok = true
		}
		if !ok {
			n++
		}
	}
	return n
}
