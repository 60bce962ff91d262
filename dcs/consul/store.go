package consul

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
)

// Store is a [dcs.Store] on Consul's KV store and sessions. It is safe for
// concurrent use.
type Store struct {
	cfg       Config
	prefix    string // "service/batman/": no leading slash, as Patroni
	client    *api.Client
	transport *http.Transport
	log       *slog.Logger

	mu       sync.Mutex
	sessions map[dcs.LeaseID]string // lease -> session UUID, a cache
}

var _ dcs.Store = (*Store)(nil)

// New returns a store for cfg. It does not contact Consul: an unreachable
// agent shows up as errors wrapping [dcs.ErrUnavailable] on the first call.
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   cfg.RequestTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:     cfg.TLS.Clone(),
		TLSHandshakeTimeout: cfg.RequestTimeout,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	client, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		Scheme:     cfg.Scheme,
		Token:      cfg.Token,
		Datacenter: cfg.Datacenter,
		HttpClient: &http.Client{Transport: transport},
	})
	if err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("consul: client: %w", err)
	}
	return &Store{
		cfg:       cfg,
		prefix:    strings.TrimPrefix(dcs.Prefix(cfg.Namespace, cfg.Scope), "/"),
		client:    client,
		transport: transport,
		log:       cfg.Logger.With("component", "dcs/consul", "prefix", cfg.Namespace+"/"+cfg.Scope),
		sessions:  map[dcs.LeaseID]string{},
	}, nil
}

// Prefix returns the Consul key prefix of the cluster, e.g.
// "service/batman/" (no leading slash, as Patroni).
func (s *Store) Prefix() string { return s.prefix }

// Client returns the underlying Consul API client, for what the Store does
// not cover (service registration, raw reads).
func (s *Store) Client() *api.Client { return s.client }

// Close releases idle connections. It does not destroy sessions: a lease
// outlives its client until it expires or is revoked, as in etcd.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// callCtx bounds one call by the request timeout.
func (s *Store) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// readOpts returns query options with the configured consistency.
func (s *Store) readOpts(ctx context.Context) *api.QueryOptions {
	q := &api.QueryOptions{}
	switch s.cfg.Consistency {
	case Consistent:
		q.RequireConsistent = true
	case Stale:
		q.AllowStale = true
	}
	return q.WithContext(ctx)
}

// writeOpts returns write options bound to ctx.
func (s *Store) writeOpts(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// fullKey maps a relative key to its Consul key, refusing keys that are
// empty, absolute or would escape the prefix.
func (s *Store) fullKey(key string) (string, error) {
	switch {
	case key == "":
		return "", fmt.Errorf("consul: empty key")
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return "", fmt.Errorf("consul: key %q must be relative and not end in '/'", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("consul: key %q has an empty, '.' or '..' segment", key)
		}
	}
	return s.prefix + key, nil
}
