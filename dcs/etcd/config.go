package etcd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Defaults applied by [New] and [NewFromClient] to zero fields.
const (
	DefaultRequestTimeout       = 2 * time.Second
	DefaultDialTimeout          = 2 * time.Second
	DefaultDialKeepAliveTime    = 10 * time.Second
	DefaultDialKeepAliveTimeout = 3 * time.Second
)

// Config configures a Store that owns its etcd client.
type Config struct {
	// Endpoints are etcd client URLs, e.g. "http://127.0.0.1:2379" or
	// "https://10.0.0.1:2379". Required.
	Endpoints []string
	// Namespace and Scope select the cluster prefix, see [dcs.Prefix]. An
	// empty Namespace means [dcs.DefaultNamespace]. Scope is required.
	Namespace string
	Scope     string

	// RequestTimeout bounds every call (default [DefaultRequestTimeout]).
	RequestTimeout time.Duration
	// DialTimeout bounds authentication and other client set-up round trips
	// (default [DefaultDialTimeout]).
	DialTimeout time.Duration
	// DialKeepAliveTime and DialKeepAliveTimeout are the gRPC keepalive
	// ping interval and ping timeout that detect a dead endpoint (defaults
	// [DefaultDialKeepAliveTime], [DefaultDialKeepAliveTimeout]; see the
	// package documentation).
	DialKeepAliveTime    time.Duration
	DialKeepAliveTimeout time.Duration

	// TLS, when non-nil, is used for every connection (client certificates,
	// root CAs, server name).
	TLS *tls.Config
	// Username and Password enable etcd authentication; both or neither.
	Username string
	Password string

	// Logger receives the store's and the etcd client's logs (default
	// slog.Default()).
	Logger *slog.Logger
}

// Options configures a Store built on a caller's client with [NewFromClient].
type Options struct {
	// RequestTimeout bounds every call (default [DefaultRequestTimeout]).
	RequestTimeout time.Duration
	// Logger receives the store's logs (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func validateScope(namespace, scope string, timeout time.Duration) error {
	if err := dcs.ValidateName(scope); err != nil {
		return fmt.Errorf("etcd: scope: %w", err)
	}
	// Patroni writes the namespace with slashes ("/service/"); each
	// segment must still be a plain name.
	for _, seg := range strings.Split(namespace, "/") {
		if seg == "" {
			continue
		}
		if err := dcs.ValidateName(seg); err != nil {
			return fmt.Errorf("etcd: namespace %q: %w", namespace, err)
		}
	}
	if timeout < 0 {
		return fmt.Errorf("etcd: negative request timeout %v", timeout)
	}
	return nil
}

func (c Config) validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd: no endpoints")
	}
	for _, ep := range c.Endpoints {
		if ep == "" {
			return errors.New("etcd: empty endpoint")
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("etcd: username and password must be given together")
	}
	for name, d := range map[string]time.Duration{
		"dial timeout": c.DialTimeout, "dial keepalive time": c.DialKeepAliveTime,
		"dial keepalive timeout": c.DialKeepAliveTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("etcd: negative %s %v", name, d)
		}
	}
	return validateScope(c.Namespace, c.Scope, c.RequestTimeout)
}
