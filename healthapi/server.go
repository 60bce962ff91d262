package healthapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// ServerOptions configure [NewServer]. Zero durations take the defaults
// shown.
type ServerOptions struct {
	// Addr is the listen address, e.g. "127.0.0.1:8008".
	Addr string
	// TLS enables HTTPS when set (see [ServerTLSConfig]); serve with
	// srv.ListenAndServeTLS("", "").
	TLS *tls.Config
	// ReadHeaderTimeout (5 s) bounds reading request headers, so slow
	// clients cannot hold connections open.
	ReadHeaderTimeout time.Duration
	// ReadTimeout (30 s) bounds reading a whole request.
	ReadTimeout time.Duration
	// WriteTimeout (90 s) bounds a response; it must exceed the handler's
	// ActionTimeout, since a switchover answers only when it is over.
	WriteTimeout time.Duration
	// IdleTimeout (120 s) closes idle keep-alive connections.
	IdleTimeout time.Duration
	// MaxHeaderBytes defaults to 16 KiB.
	MaxHeaderBytes int
	// Logger receives the server's own errors; default slog.Default().
	Logger *slog.Logger
}

// NewServer returns an http.Server for h with timeouts and limits set.
func NewServer(h http.Handler, opts ServerOptions) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	maxHeader := opts.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 16 << 10
	}
	return &http.Server{
		Addr:              opts.Addr,
		Handler:           h,
		TLSConfig:         opts.TLS,
		ReadHeaderTimeout: def(opts.ReadHeaderTimeout, 5*time.Second),
		ReadTimeout:       def(opts.ReadTimeout, 30*time.Second),
		WriteTimeout:      def(opts.WriteTimeout, 90*time.Second),
		IdleTimeout:       def(opts.IdleTimeout, 120*time.Second),
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// ClientVerify is Patroni's restapi.verify_client.
type ClientVerify int

const (
	// VerifyNone asks for no client certificate.
	VerifyNone ClientVerify = iota
	// VerifyOptional verifies a client certificate when one is sent; set
	// Auth.RequireClientCert to demand one for management requests.
	VerifyOptional
	// VerifyRequired refuses connections without a valid client
	// certificate.
	VerifyRequired
)

// ErrTLSConfig is wrapped by [ServerTLSConfig] errors.
var ErrTLSConfig = errors.New("healthapi: TLS configuration")

// ServerTLSConfig builds a server TLS configuration from PEM files, like
// Patroni's restapi certfile, keyfile, cafile and verify_client. caFile
// may be empty with VerifyNone. The minimum version is TLS 1.2.
func ServerTLSConfig(certFile, keyFile, caFile string, verify ClientVerify) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: loading certificate: %w", ErrTLSConfig, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch verify {
	case VerifyNone:
		return cfg, nil
	case VerifyOptional:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case VerifyRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("%w: unknown ClientVerify %d", ErrTLSConfig, verify)
	}
	if caFile == "" {
		return nil, fmt.Errorf("%w: verifying clients needs a CA file", ErrTLSConfig)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: reading CA file: %w", ErrTLSConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: no certificate found in %s", ErrTLSConfig, caFile)
	}
	cfg.ClientCAs = pool
	return cfg, nil
}
