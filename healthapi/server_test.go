package healthapi

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve runs srv on a loopback listener until the test ends.
func serve(t testing.TB, srv *http.Server, tlsOn bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if tlsOn {
			done <- srv.ServeTLS(ln, "", "")
		} else {
			done <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestHAProxyStyleCheck sends the bare HTTP/1.0 OPTIONS and HEAD requests
// HAProxy's httpchk sends and reads the status line off the wire.
func TestHAProxyStyleCheck(t *testing.T) {
	cache := &StateCache{}
	cache.Store(primaryState())
	addr := serve(t, NewServer(testHandler(t, cache, nil), ServerOptions{Logger: quiet()}), false)
	for _, tc := range []struct{ req, status string }{
		{"OPTIONS /primary HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK"},
		{"HEAD /replica HTTP/1.0\r\n\r\n", "HTTP/1.0 503 Service Unavailable"},
		{"GET /primary HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK"},
	} {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, tc.req); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || strings.TrimSpace(line) != tc.status {
			t.Errorf("%q: status line %q (%v), want %q", tc.req, line, err, tc.status)
		}
	}
}

type pki struct {
	dir                   string
	caFile, certFile, key string
	pool                  *x509.CertPool
	client, stranger      tls.Certificate
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate signed by the CA, plus one signed by nobody trusted.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	leaf := func(serial int64, usage x509.ExtKeyUsage, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature}
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth, ca, caKey)
	p.certFile, p.key = filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server.key")
	writePEM(t, p.certFile, "CERTIFICATE", srvDER)
	kb, _ := x509.MarshalECPrivateKey(srvKey)
	writePEM(t, p.key, "EC PRIVATE KEY", kb)

	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth, ca, caKey)
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	strDER, strKey := leaf(4, x509.ExtKeyUsageClientAuth, nil, nil)
	p.stranger = tls.Certificate{Certificate: [][]byte{strDER}, PrivateKey: strKey}
	return p
}

// TestTLSClientCertificates serves over real TLS on loopback with
// verify_client "optional" and management requiring a certificate and basic
// credentials.
func TestTLSClientCertificates(t *testing.T) {
	p := newPKI(t)
	cfg, err := ServerTLSConfig(p.certFile, p.key, p.caFile, VerifyOptional)
	if err != nil {
		t.Fatal(err)
	}
	cache := &StateCache{}
	cache.Store(primaryState())
	h, err := New(Options{Source: cache, Manager: &fakeManager{},
		Auth:   Auth{Username: "admin", Password: "secret", RequireClientCert: true},
		Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, NewServer(h, ServerOptions{TLS: cfg, Logger: quiet()}), true)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
	}
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		path   string
		auth   bool
		code   int
	}{
		{"health without cert", client(), "GET", "/primary", false, 200},
		{"reload without cert", client(), "POST", "/reload", true, 403},
		{"reload with cert, no password", client(p.client), "POST", "/reload", false, 401},
		{"reload with cert and password", client(p.client), "POST", "/reload", true, 202},
	} {
		req, _ := http.NewRequest(tc.method, "https://"+addr+tc.path, nil)
		if tc.auth {
			req.SetBasicAuth("admin", "secret")
		}
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
	}
	// A certificate from an unknown CA fails the handshake. (Go's client
	// would not even offer it to a server naming other CAs: force it.)
	stranger := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: p.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &p.stranger, nil
		}}}}
	if resp, err := stranger.Get("https://" + addr + "/primary"); err == nil {
		resp.Body.Close()
		t.Error("untrusted client certificate accepted")
	}

	// Required mode refuses connections without a certificate.
	cfg2, err := ServerTLSConfig(p.certFile, p.key, p.caFile, VerifyRequired)
	if err != nil {
		t.Fatal(err)
	}
	addr2 := serve(t, NewServer(h, ServerOptions{TLS: cfg2, Logger: quiet()}), true)
	if resp, err := client().Get("https://" + addr2 + "/primary"); err == nil {
		resp.Body.Close()
		t.Error("connection without a client certificate accepted in required mode")
	}
	if resp, err := client(p.client).Get("https://" + addr2 + "/primary"); err != nil || resp.StatusCode != 200 {
		t.Errorf("required mode with certificate: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestServerTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		cert, key, ca string
		v             ClientVerify
	}{
		{"/nonexistent", p.key, "", VerifyNone},
		{p.certFile, p.key, "", VerifyOptional},
		{p.certFile, p.key, "/nonexistent", VerifyRequired},
		{p.certFile, p.key, p.key, VerifyRequired},
		{p.certFile, p.key, p.caFile, ClientVerify(9)},
	} {
		if _, err := ServerTLSConfig(tc.cert, tc.key, tc.ca, tc.v); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("ServerTLSConfig(%s, %s, %s, %d) = %v", tc.cert, tc.key, tc.ca, tc.v, err)
		}
	}
	srv := NewServer(http.NotFoundHandler(), ServerOptions{})
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout <= DefaultActionTimeout || srv.IdleTimeout == 0 {
		t.Errorf("timeouts not set: %+v", srv)
	}
}

// panicky is a broken StateSource.
type panicky struct{}

func (panicky) State() *NodeState { panic("broken source") }

func TestPanicIsRecovered(t *testing.T) {
	h, err := New(Options{Source: panicky{}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/primary", "/patroni", "/cluster"} {
		if w := do(h, "GET", p, "", false); w.Code != 500 {
			t.Errorf("GET %s = %d, want 500", p, w.Code)
		}
	}
}
