package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
)

// Store is a [dcs.Store] on etcd v3. It is safe for concurrent use.
type Store struct {
	cli        *clientv3.Client
	ownsClient bool
	prefix     string
	timeout    time.Duration
	log        *slog.Logger

	// ctx is cancelled by Close: it ends running watches and calls in
	// flight, and marks the store closed.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

var _ dcs.Store = (*Store)(nil)

// New connects to etcd as cfg says. Without credentials connecting is lazy:
// New does not fail because etcd is down, and calls return errors wrapping
// [dcs.ErrUnavailable] until it is reachable. With Username and Password the
// etcd client authenticates at once, so New fails (wrapping
// [dcs.ErrUnavailable] when etcd did not answer within DialTimeout).
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := Options{RequestTimeout: cfg.RequestTimeout, Logger: cfg.Logger}.withDefaults()
	cc := clientv3.Config{
		Endpoints:            append([]string(nil), cfg.Endpoints...),
		DialTimeout:          orDefault(cfg.DialTimeout, DefaultDialTimeout),
		DialKeepAliveTime:    orDefault(cfg.DialKeepAliveTime, DefaultDialKeepAliveTime),
		DialKeepAliveTimeout: orDefault(cfg.DialKeepAliveTimeout, DefaultDialKeepAliveTimeout),
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               newZapLogger(opts.Logger.With("component", "etcd-client")),
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, wrap(fmt.Sprintf("new client for %v", cfg.Endpoints), err)
	}
	return newStore(cli, true, cfg.Namespace, cfg.Scope, opts), nil
}

// NewFromClient builds a Store on an existing client, for embedders that
// already hold one. [Store.Close] does not close cli. The client's own
// keepalive settings are the caller's; see the package documentation for
// the values New uses.
func NewFromClient(cli *clientv3.Client, namespace, scope string, opts Options) (*Store, error) {
	if cli == nil {
		return nil, fmt.Errorf("etcd: nil client")
	}
	if err := validateScope(namespace, scope, opts.RequestTimeout); err != nil {
		return nil, err
	}
	return newStore(cli, false, namespace, scope, opts.withDefaults()), nil
}

func newStore(cli *clientv3.Client, owns bool, namespace, scope string, opts Options) *Store {
	prefix := dcs.Prefix(namespace, scope)
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{
		ctx:        ctx,
		cancel:     cancel,
		cli:        cli,
		ownsClient: owns,
		prefix:     prefix,
		timeout:    opts.RequestTimeout,
		log:        opts.Logger.With("dcs", "etcd", "prefix", prefix),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Prefix returns the absolute etcd key prefix of the cluster, e.g.
// "/service/demo/".
func (s *Store) Prefix() string { return s.prefix }

// Client returns the underlying etcd client (for diagnostics and tests).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close ends running watches and, when the Store created the client,
// closes it. It does not revoke leases. Calling it again returns the first
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.ownsClient {
			if err := s.cli.Close(); err != nil && ctxErr(err) == nil {
				s.closeErr = fmt.Errorf("etcd: close client: %w", err)
			}
		}
	})
	return s.closeErr
}

// ErrClosed is returned (wrapped, together with [dcs.ErrUnavailable]) by
// calls on a closed Store.
var ErrClosed = errors.New("etcd: store closed")

// call derives the context of one request: the caller's deadline or the
// request timeout, whichever comes first, and cancelled by Close.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.ctx.Err() != nil {
		return nil, nil, fmt.Errorf("%w: %w", dcs.ErrUnavailable, ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }, nil
}

// abs turns a relative key into the absolute etcd key.
func (s *Store) abs(key string) string { return s.prefix + key }

// rel turns an absolute etcd key under the prefix into a relative key.
func (s *Store) rel(key []byte) string { return strings.TrimPrefix(string(key), s.prefix) }

// checkKey refuses keys that would escape the prefix or address it as a
// whole.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("etcd: empty key")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("etcd: key %q must be relative to the cluster prefix", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("etcd: key %q has an empty or relative path segment", key)
		}
	}
	return nil
}
