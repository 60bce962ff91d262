package consul

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultAddress        = "127.0.0.1:8500"
	DefaultRequestTimeout = 2 * time.Second
	// DefaultLockDelay is the session lock-delay. Consul's own default
	// (15 s) would block a new leader for 15 s after the old session is
	// invalidated; Patroni uses 1 ms, and so do we. Consul treats an
	// omitted (zero) lock-delay as 15 s, so 1 ms is the practical zero.
	DefaultLockDelay = time.Millisecond
	// DefaultWatchWait is how long one blocking query of a watch waits for
	// a change before it is re-issued.
	DefaultWatchWait = 30 * time.Second
)

// Consistency is the consistency mode of reads.
type Consistency string

// Consistency modes, as Consul names them.
const (
	// Consistent reads are linearizable: the serving server confirms it is
	// still the raft leader first. The default, and the only mode under
	// which Get honours the dcs.Store contract.
	Consistent Consistency = "consistent"
	// Default reads may be served by a leader that has just lost
	// leadership (a short stale window).
	Default Consistency = "default"
	// Stale reads may be served by any server, arbitrarily stale.
	Stale Consistency = "stale"
)

// Config configures a [Store]. Only Scope is required.
type Config struct {
	// Address is the host:port of the Consul agent's HTTP API (default
	// [DefaultAddress]). Run against the local client agent, as Patroni
	// recommends, not a server of another host.
	Address string
	// Scheme is "http" or "https" (default "https" when TLS is set,
	// otherwise "http").
	Scheme string
	// Token is the ACL token sent with every request. Empty means the
	// token in CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN when set (the
	// client library reads them), otherwise the agent's default token. It
	// needs key:write on the cluster prefix and session:write on the
	// agent's node.
	Token string
	// TLS, when non-nil, is the client TLS configuration (CA, client
	// certificate, server name).
	TLS *tls.Config
	// Datacenter selects the Consul datacenter (empty: the agent's).
	Datacenter string

	// Namespace and Scope select the cluster prefix: keys are stored at
	// dcs.Prefix(Namespace, Scope) without the leading slash, e.g.
	// "service/batman/leader", exactly where Patroni stores them. An empty
	// Namespace means dcs.DefaultNamespace.
	Namespace string
	Scope     string

	// SessionName names the sessions this store creates (default
	// "pgha-<scope>"); Patroni uses "<scope>-<member>".
	SessionName string
	// LockDelay is the lock-delay of the sessions (default
	// [DefaultLockDelay]; must not be negative).
	LockDelay time.Duration
	// NodeChecks binds sessions to these node health checks as well as to
	// their TTL (e.g. "serfHealth"). The default, none, binds a session to
	// its TTL alone: a node check flapping would otherwise delete the
	// leader key under a healthy leader (safety over liveness).
	NodeChecks []string

	// RequestTimeout bounds every call (default [DefaultRequestTimeout]).
	RequestTimeout time.Duration
	// Consistency of reads (default [Consistent]).
	Consistency Consistency
	// WatchWait is the wait time of each blocking query of a watch (default
	// [DefaultWatchWait]).
	WatchWait time.Duration

	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
}

// withDefaults validates c and fills zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := dcs.ValidateName(c.Scope); err != nil {
		return c, fmt.Errorf("consul: scope: %w", err)
	}
	for _, part := range strings.Split(c.Namespace, "/") {
		if part == "" {
			continue
		}
		if err := dcs.ValidateName(part); err != nil {
			return c, fmt.Errorf("consul: namespace %q: %w", c.Namespace, err)
		}
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if strings.Contains(c.Address, "://") {
		return c, fmt.Errorf("consul: address %q: want host:port, set Scheme separately", c.Address)
	}
	switch c.Scheme {
	case "":
		c.Scheme = "http"
		if c.TLS != nil {
			c.Scheme = "https"
		}
	case "http", "https":
	default:
		return c, fmt.Errorf("consul: scheme %q: want http or https", c.Scheme)
	}
	if c.SessionName == "" {
		c.SessionName = "pgha-" + c.Scope
	}
	switch {
	case c.LockDelay < 0:
		return c, fmt.Errorf("consul: negative lock delay %v", c.LockDelay)
	case c.LockDelay == 0:
		c.LockDelay = DefaultLockDelay
	}
	for _, chk := range c.NodeChecks {
		if chk == "" {
			return c, errors.New("consul: empty node check name")
		}
	}
	switch {
	case c.RequestTimeout < 0:
		return c, fmt.Errorf("consul: negative request timeout %v", c.RequestTimeout)
	case c.RequestTimeout == 0:
		c.RequestTimeout = DefaultRequestTimeout
	}
	switch c.Consistency {
	case "":
		c.Consistency = Consistent
	case Consistent, Default, Stale:
	default:
		return c, fmt.Errorf("consul: consistency %q: want consistent, default or stale", c.Consistency)
	}
	switch {
	case c.WatchWait < 0:
		return c, fmt.Errorf("consul: negative watch wait %v", c.WatchWait)
	case c.WatchWait == 0:
		c.WatchWait = DefaultWatchWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
