package haproxycfg

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Reloader is what a [Syncer] needs from a running HAProxy. [*Process]
// implements it; an embedder whose HAProxy runs under systemd can implement
// it with "haproxy -c" and "systemctl reload".
type Reloader interface {
	// Validate checks a candidate configuration file.
	Validate(ctx context.Context, path string) error
	// Reload makes HAProxy load its configuration file again, gracefully,
	// and returns once the new configuration serves.
	Reload(ctx context.Context) error
}

// SyncerOptions configures a [Syncer].
type SyncerOptions struct {
	// Render are the rendering options.
	Render Options
	// ConfigPath is the file HAProxy loads; the Syncer replaces it
	// atomically. Required.
	ConfigPath string
	// Reloader validates and applies configurations. Required.
	Reloader Reloader
	// Router, when set, receives the DCS leader on every change (before
	// any reload) and is run by [Syncer.Run]; Render.RuntimeRouting should
	// then be set. Nil leaves routing to HAProxy's health checks alone.
	Router *Router
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RetryInterval is the first delay before retrying a failed read, render
	// or reload; it doubles up to 30 s. Default 500 ms.
	RetryInterval time.Duration
	// ApplyTimeout bounds one validate-and-reload. Default 15 s.
	ApplyTimeout time.Duration
}

// SyncStatus describes what a [Syncer] last did.
type SyncStatus struct {
	// Revision is the DCS revision of the last snapshot rendered.
	Revision int64
	// Servers are the member names in the applied configuration.
	Servers []string
	// Reloads counts successful reloads since Run started.
	Reloads int
	// Skipped describes members left out of the configuration (nil if none).
	Skipped error
	// Err is the last apply error, nil after a success.
	Err error
}

// Syncer keeps a running HAProxy's server list equal to the cluster
// members in the DCS.
//
// It applies changes by a graceful reload, not through the runtime API's
// "add server"/"del server". Reasons:
//   - The rendered file stays the single source of truth: what runs is what
//     "haproxy -c" validated and what survives an HAProxy restart, with no
//     drift between runtime state and file.
//   - HAProxy 2.6's dynamic servers do not inherit default-server settings,
//     cannot be tracked (the read-only listener's backup servers track the
//     read-write one) and can only be deleted once drained and in
//     maintenance, which would need a per-change state machine.
//   - In master-worker mode a reload is seamless: listening sockets are
//     handed over (expose-fd listeners), the old worker keeps serving its
//     established connections until they end (bounded by
//     [Options.HardStopAfter]), and with [Options.ServerStateFile] the new
//     worker starts with the servers' current health states, while servers
//     that just joined start down ([Process.Reload] adds them to the state
//     file as down) instead of HAProxy's default "up until the first check",
//     which would briefly send read-write connections to a new replica.
//
// Reloads only happen when the rendered bytes change, which is on membership
// or address changes, not on role changes (those are followed by health
// checks and, with [SyncerOptions.Router], by the runtime API) nor on the
// members' periodic LSN updates.
type Syncer struct {
	store dcs.Store
	o     SyncerOptions
	log   *slog.Logger

	// last is the configuration in ConfigPath; only Run's goroutine uses it.
	last []byte

	mu     sync.Mutex
	status SyncStatus
}

// NewSyncer checks the options (including a trial render) and returns a
// Syncer; call Run to start it.
func NewSyncer(store dcs.Store, o SyncerOptions) (*Syncer, error) {
	if store == nil {
		return nil, fmt.Errorf("haproxycfg: nil store: %w", ErrInvalid)
	}
	if o.Reloader == nil {
		return nil, fmt.Errorf("haproxycfg: nil Reloader: %w", ErrInvalid)
	}
	if err := validatePath("ConfigPath", o.ConfigPath); err != nil {
		return nil, err
	}
	if _, err := Render(nil, o.Render); err != nil {
		return nil, err
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 500 * time.Millisecond
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 15 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{store: store, o: o, log: log.With("component", "haproxycfg.syncer")}, nil
}

// Status returns what the Syncer last did.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Servers = slices.Clone(st.Servers)
	return st
}

// Run reads the cluster, applies it, then follows the DCS watch until ctx
// ends, re-reading everything when the watch reports a resync. Failures
// (DCS unreachable, validation or reload errors) are logged, recorded in
// Status and retried with backoff; Run returns only ctx's error. With
// [SyncerOptions.Router] set it also runs the Router until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	if r := s.o.Router; r != nil {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = r.Run(rctx)
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	if cur, err := os.ReadFile(s.o.ConfigPath); err == nil {
		s.last = cur // no reload if HAProxy already runs what we would render
	}
	backoff := s.o.RetryInterval
	sleep := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, 30*time.Second)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		snap, err := s.store.Get(ctx)
		if err != nil {
			s.log.Warn("read cluster", "err", err)
			if !sleep() {
				break
			}
			continue
		}
		backoff = s.o.RetryInterval
		s.follow(ctx, snap)
		// follow returns when the watch closed; pause before re-reading so
		// a flapping store is not hammered.
		if ctx.Err() == nil && !sleep() {
			break
		}
	}
	return ctx.Err()
}

// follow applies snap and then every watch change until the watch ends.
func (s *Syncer) follow(ctx context.Context, snap dcs.Snapshot) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kvs := map[string]dcs.KV{}
	load := func(sn dcs.Snapshot) {
		clear(kvs)
		for _, kv := range sn.KVs {
			kvs[kv.Key] = kv
		}
	}
	load(snap)
	rev := snap.Revision
	watch := s.store.Watch(wctx, rev)

	backoff := s.o.RetryInterval
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	dirty := true
	for {
		if dirty {
			dirty = false
			retry.Stop()
			if err := s.apply(ctx, rev, kvs); err != nil {
				s.log.Error("haproxy configuration not applied", "revision", rev, "err", err, "retry_in", backoff)
				retry.Reset(backoff)
				backoff = min(2*backoff, 30*time.Second)
			} else {
				backoff = s.o.RetryInterval
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			dirty = true
		case resp, ok := <-watch:
			// Take every batch already queued, then render once.
			for ok {
				if resp.Snapshot != nil {
					load(*resp.Snapshot)
				}
				for _, ev := range resp.Events {
					switch ev.Type {
					case dcs.EventPut:
						kvs[ev.KV.Key] = ev.KV
					case dcs.EventDelete:
						delete(kvs, ev.KV.Key)
					}
				}
				rev = max(rev, resp.Revision)
				select {
				case resp, ok = <-watch:
					continue
				default:
				}
				break
			}
			if !ok {
				return
			}
			dirty = true
		}
	}
}

// apply renders the cluster at rev and, when the result differs from the
// running configuration, validates, installs and reloads it.
func (s *Syncer) apply(ctx context.Context, rev int64, kvs map[string]dcs.KV) error {
	snap := dcs.Snapshot{Revision: rev}
	for _, kv := range kvs {
		snap.KVs = append(snap.KVs, kv)
	}
	cluster := dcs.Parse(snap)
	servers, skipped := ServersFromMembers(cluster.Members)
	if skipped != nil {
		s.log.Warn("members left out of haproxy configuration", "err", skipped)
	}
	if s.o.Router != nil {
		leader := ""
		if cluster.Leader != nil {
			leader = cluster.Leader.Name
		}
		// Before any reload: a leader change must not wait for one.
		s.o.Router.SetVerdict(Verdict{Leader: leader, Servers: servers, Failover: cluster.Failover})
	}
	cfg, err := Render(servers, s.o.Render)
	if err == nil && !bytes.Equal(cfg, s.last) {
		err = s.install(ctx, cfg)
	}
	names := make([]string, len(servers))
	for i, sv := range servers {
		names[i] = sv.Name
	}
	slices.Sort(names)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Revision = rev
	s.status.Skipped = skipped
	s.status.Err = err
	if err == nil {
		s.status.Servers = names
	}
	return err
}

// install validates cfg as a temporary file, moves it over ConfigPath and
// reloads.
func (s *Syncer) install(ctx context.Context, cfg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.ApplyTimeout)
	defer cancel()
	tmp, err := writeTemp(s.o.ConfigPath, cfg, 0o644)
	if err != nil {
		return err
	}
	if err := s.o.Reloader.Validate(ctx, tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, s.o.ConfigPath); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("haproxycfg: replace %s: %w", s.o.ConfigPath, err)
	}
	s.last = cfg
	if err := s.o.Reloader.Reload(ctx); err != nil {
		// The file is in place; force a new attempt on the next change or
		// retry even if the rendering does not change.
		s.last = nil
		return err
	}
	s.mu.Lock()
	s.status.Reloads++
	s.mu.Unlock()
	if s.o.Router != nil {
		s.o.Router.poke() // the new worker may have started servers disabled
	}
	s.log.Info("haproxy configuration applied", "bytes", len(cfg))
	return nil
}
