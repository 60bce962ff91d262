package healthapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pgha/pgha/clock"
)

// Errors returned by [New].
var (
	// ErrNoSource: Options.Source is nil.
	ErrNoSource = errors.New("healthapi: no state source")
	// ErrNoAuth: a Manager is set but no authentication is configured and
	// Options.AllowUnauthenticated is false.
	ErrNoAuth = errors.New("healthapi: management endpoints need authentication")
	// ErrBadOptions: an option is invalid.
	ErrBadOptions = errors.New("healthapi: invalid options")
)

// Default limits.
const (
	DefaultMaxBodyBytes  = 64 << 10
	DefaultActionTimeout = 60 * time.Second
)

// Options configure a [Handler].
type Options struct {
	// Source supplies the node's state; required.
	Source StateSource
	// Manager carries out management requests. When nil those endpoints
	// answer 503.
	Manager Manager
	// Auth protects the management endpoints.
	Auth Auth
	// AllowUnauthenticated permits a Manager without Auth (tests, or a
	// listener reachable only by trusted callers).
	AllowUnauthenticated bool
	// Version is reported as patroni.version in GET /patroni (default
	// "pgha") and, when it is a semantic version such as "4.0.2", as the
	// patroni_version metric (40002; 0 otherwise), as Patroni does.
	Version string
	// MaxBodyBytes limits request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ActionTimeout bounds each Manager call; default DefaultActionTimeout.
	// A switchover waits for its outcome up to this long.
	ActionTimeout time.Duration
	// Metrics serves GET /metrics; nil answers 404. healthapi/metrics
	// gives Patroni's metrics from the same Source (a package of its own,
	// so that healthapi's users do not link the Prometheus client).
	Metrics http.Handler
	// Clock is used to judge the freshness of the cached state; default
	// clock.Real().
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the HTTP handler of the health and management API. It is safe
// for concurrent use.
type Handler struct {
	src     StateSource
	mgr     Manager
	auth    *authenticator
	version string
	maxBody int64
	timeout time.Duration
	clock   clock.Clock
	log     *slog.Logger
	metrics http.Handler
}

// New returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Source == nil {
		return nil, ErrNoSource
	}
	if opts.Manager != nil && !opts.Auth.enabled() && !opts.AllowUnauthenticated {
		return nil, ErrNoAuth
	}
	if opts.Auth.Username != "" && opts.Auth.Password == "" {
		return nil, fmt.Errorf("%w: Auth.Password is empty", ErrBadOptions)
	}
	if opts.Auth.Username == "" && opts.Auth.Password != "" {
		return nil, fmt.Errorf("%w: Auth.Username is empty", ErrBadOptions)
	}
	if strings.ContainsAny(opts.Auth.Realm, "\"\r\n") {
		return nil, fmt.Errorf("%w: Auth.Realm contains a quote or newline", ErrBadOptions)
	}
	if opts.MaxBodyBytes < 0 || opts.ActionTimeout < 0 {
		return nil, fmt.Errorf("%w: negative MaxBodyBytes or ActionTimeout", ErrBadOptions)
	}
	h := &Handler{
		src:     opts.Source,
		mgr:     opts.Manager,
		auth:    newAuthenticator(opts.Auth),
		version: opts.Version,
		maxBody: opts.MaxBodyBytes,
		timeout: opts.ActionTimeout,
		clock:   opts.Clock,
		log:     opts.Logger,
	}
	if h.version == "" {
		h.version = "pgha"
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.timeout == 0 {
		h.timeout = DefaultActionTimeout
	}
	if h.clock == nil {
		h.clock = clock.Real()
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.metrics = opts.Metrics
	return h, nil
}

// liveState is the Source's state with WAL positions read now when it is
// a LiveSource (see there), else its cached state.
func (h *Handler) liveState(ctx context.Context) *NodeState {
	if ls, ok := h.src.(LiveSource); ok {
		ctx, cancel := context.WithTimeout(ctx, LiveStateTimeout)
		defer cancel()
		if s := ls.LiveState(ctx); s != nil {
			return s
		}
	}
	return h.src.State()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.recover(w, r)
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	switch path {
	case "/patroni":
		if allow(w, r, http.MethodGet) {
			h.writeJSON(w, http.StatusOK, buildStatus(h.liveState(r.Context()), h.version, h.clock.Now()))
		}
	case "/metrics":
		if !allow(w, r, http.MethodGet) {
			break
		}
		if h.metrics == nil {
			h.writeText(w, http.StatusNotFound, "no metrics configured")
		} else {
			h.metrics.ServeHTTP(w, r)
		}
	case "/cluster":
		if allow(w, r, http.MethodGet) {
			h.serveCluster(w)
		}
	case "/history":
		if allow(w, r, http.MethodGet) {
			h.serveHistory(w)
		}
	case failsafePath:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.serveFailsafe(w)
		case http.MethodPost:
			// Protected like every management endpoint, allowlist
			// included: Patroni skips only its member-derived allowlist
			// here, which pgha does not have.
			h.protected(w, r, h.postFailsafe)
		default:
			methodNotAllowed(w, http.MethodGet, http.MethodPost)
		}
	case "/config":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.serveConfig(w)
		case http.MethodPatch, http.MethodPut:
			h.protected(w, r, h.updateConfig)
		default:
			methodNotAllowed(w, http.MethodGet, http.MethodPatch, http.MethodPut)
		}
	case "/switchover", "/restart":
		switch r.Method {
		case http.MethodPost:
			if path == "/switchover" {
				h.protected(w, r, h.postSwitchover)
			} else {
				h.protected(w, r, h.postRestart)
			}
		case http.MethodDelete:
			h.protected(w, r, h.deleteScheduled)
		default:
			methodNotAllowed(w, http.MethodPost, http.MethodDelete)
		}
	case "/failover":
		if allow(w, r, http.MethodPost) {
			h.protected(w, r, h.postFailover)
		}
	case "/reload":
		if allow(w, r, http.MethodPost) {
			h.protected(w, r, h.postReload)
		}
	case "/reinitialize":
		if allow(w, r, http.MethodPost) {
			h.protected(w, r, h.postReinitialize)
		}
	default:
		c, ok := healthCheckFor(path)
		if !ok {
			h.writeText(w, http.StatusNotFound, "not found")
			return
		}
		h.serveHealth(w, r, c)
	}
}

// serveHealth answers a health check. HEAD and OPTIONS get the bare status
// (HAProxy's httpchk), GET the status document as well.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request, c check) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		methodNotAllowed(w, http.MethodGet, http.MethodHead, http.MethodOptions)
		return
	}
	q, err := parseHealthQuery(r.URL.Query())
	if err != nil {
		h.writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	s := h.src.State()
	now := h.clock.Now()
	code := http.StatusServiceUnavailable
	if evaluate(s, c, q, now) {
		code = http.StatusOK
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(code)
		return
	}
	h.writeJSON(w, code, buildStatus(s, h.version, now))
}

// allow checks the method; HEAD is allowed wherever GET is.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	methodNotAllowed(w, method)
	return false
}

func methodNotAllowed(w http.ResponseWriter, methods ...string) {
	w.Header().Set("Allow", strings.Join(methods, ", "))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write([]byte("method not allowed\n"))
}

func (h *Handler) writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.log.Error("healthapi: encoding response", "err", err)
		h.writeText(w, http.StatusInternalServerError, "internal error encoding the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (h *Handler) writeRawJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeText sends a plain-text message, as Patroni answers management calls.
func (h *Handler) writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}

// recover turns a panic into a logged 500, the last resort that keeps one bad
// request from taking down the agent.
func (h *Handler) recover(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	h.log.Error("healthapi: panic serving request", "method", r.Method, "path", r.URL.Path,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	// If the handler already wrote a header this is ignored by net/http.
	h.writeText(w, http.StatusInternalServerError, "internal error")
}
