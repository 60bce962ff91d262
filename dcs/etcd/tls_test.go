package etcd_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// TestTLSAndAuth runs a store against an embedded etcd that serves clients
// over TLS with client-certificate verification and has authentication
// enabled, with a user whose role may only touch its own cluster prefix.
func TestTLSAndAuth(t *testing.T) {
	pki := newPKI(t)
	endpoint := startTLSEtcd(t, pki)
	ctx := opCtx(t)
	clientTLS := pki.clientTLS(t, true)

	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: clientTLS, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	steps := []struct {
		name string
		do   func() error
	}{
		{"add root", func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err }},
		{"add root role", func() error { _, err := admin.RoleAdd(ctx, "root"); return err }},
		{"grant root", func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err }},
		{"add pgha", func() error { _, err := admin.UserAdd(ctx, "pgha", "s3cret"); return err }},
		{"add pgha role", func() error { _, err := admin.RoleAdd(ctx, "pgha"); return err }},
		{"grant prefix", func() error {
			_, err := admin.RoleGrantPermission(ctx, "pgha", "/service/tls/", clientv3.GetPrefixRangeEnd("/service/tls/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		}},
		{"grant pgha", func() error { _, err := admin.UserGrantRole(ctx, "pgha", "pgha"); return err }},
		{"enable auth", func() error { _, err := admin.AuthEnable(ctx); return err }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}

	s := newStore(t, etcd.Config{Endpoints: []string{endpoint}, Scope: "tls", TLS: clientTLS, Username: "pgha", Password: "s3cret"})
	lease, err := s.Grant(ctx, 10*time.Second)
	if err != nil {
		t.Fatalf("Grant over TLS with auth: %v", err)
	}
	if err := s.KeepAlive(ctx, lease); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	from := mustPut(t, s, dcs.KeyLeader, "node1", lease, dcs.Cond{Absent: true})
	w := startWatch(t, s, from)
	mustPut(t, s, dcs.KeyConfig, "{}", 0, dcs.Cond{})
	if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "{}") {
		t.Fatalf("watch over TLS got %+v", r)
	}
	snap, err := s.Get(ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if kv, ok := find(snap, dcs.KeyLeader); !ok || string(kv.Value) != "node1" {
		t.Fatalf("snapshot %+v", snap)
	}
	if err := s.Revoke(ctx, lease); err != nil {
		t.Fatalf("Revoke: %v", err)
	}

	short := 500 * time.Millisecond
	failures := []struct {
		name string
		cfg  etcd.Config
		// unavailable: the store cannot even talk to etcd; otherwise etcd
		// answers with a refusal that retrying does not fix.
		unavailable bool
	}{
		{"wrong password", etcd.Config{Scope: "tls", TLS: clientTLS, Username: "pgha", Password: "wrong"}, false},
		{"outside the granted prefix", etcd.Config{Scope: "other", TLS: clientTLS, Username: "pgha", Password: "s3cret"}, false},
		{"plain HTTP without credentials", etcd.Config{Scope: "tls"}, true},
		{"no TLS", etcd.Config{Scope: "tls", Username: "pgha", Password: "s3cret"}, true},
		{"no client certificate", etcd.Config{Scope: "tls", TLS: pki.clientTLS(t, false), Username: "pgha", Password: "s3cret"}, true},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Endpoints = []string{endpoint}
			// Refusals get time to arrive on a loaded machine; the
			// unreachable cases would only wait longer.
			cfg.RequestTimeout, cfg.DialTimeout = 10*time.Second, 10*time.Second
			if tc.unavailable {
				cfg.RequestTimeout, cfg.DialTimeout = short, short
			}
			// With credentials the client authenticates in New, so the
			// refusal may come from New or from the first call.
			cfg.Logger = quietLogger()
			bad, err := etcd.New(cfg)
			if err == nil {
				t.Cleanup(func() { _ = bad.Close() })
				_, err = bad.Put(ctx, dcs.KeyStatus, []byte("{}"), 0, dcs.Cond{})
			}
			if err == nil {
				t.Fatal("Put succeeded")
			}
			t.Logf("error: %v", err)
			if got := errors.Is(err, dcs.ErrUnavailable); got != tc.unavailable {
				t.Errorf("errors.Is(ErrUnavailable) = %v, want %v", got, tc.unavailable)
			}
			if errors.Is(err, dcs.ErrConflict) || errors.Is(err, dcs.ErrLeaseLost) {
				t.Errorf("error %v carries a conflict or lease sentinel", err)
			}
		})
	}
}

// pki is a throw-away CA with a server and a client certificate.
type pki struct {
	dir                   string
	caFile                string
	serverCert, serverKey string
	clientCert            tls.Certificate
	pool                  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pgha test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	p := &pki{dir: dir, caFile: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	issue := func(serial int64, cn string, usage []x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("certificate %s: %v", cn, err)
		}
		return der, key
	}
	sDER, sKey := issue(2, "etcd", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	p.serverCert, p.serverKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	writePEM(t, p.serverCert, "CERTIFICATE", sDER)
	writePEM(t, p.serverKey, "EC PRIVATE KEY", marshalKey(t, sKey))
	// The client's CN is not an etcd user: with auth on, only the password
	// authenticates it.
	cDER, cKey := issue(3, "pgha-client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	p.clientCert = tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cKey}
	return p
}

// clientTLS returns a client configuration trusting the CA, with the client
// certificate when withCert.
func (p *pki) clientTLS(t *testing.T, withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.clientCert}
	}
	return cfg
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return der
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// startTLSEtcd starts a one-member embedded etcd serving clients over TLS
// with client certificate verification (testutil's clusters are plain
// HTTP) and returns its https endpoint; it is stopped by t.Cleanup.
func startTLSEtcd(t *testing.T, p *pki) string {
	t.Helper()
	ports := testutil.FreePorts(t, 2)
	clientURL := url.URL{Scheme: "https", Host: "127.0.0.1:" + strconv.Itoa(ports[0])}
	peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[1])}
	cfg := embed.NewConfig()
	cfg.Name = "tls"
	cfg.Dir = t.TempDir()
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = "tls=" + peerURL.String()
	cfg.ClientTLSInfo.CertFile = p.serverCert
	cfg.ClientTLSInfo.KeyFile = p.serverKey
	cfg.ClientTLSInfo.TrustedCAFile = p.caFile
	cfg.ClientTLSInfo.ClientCertAuth = true
	// Passwords are bcrypt-hashed on every Authenticate; the default cost
	// takes seconds under the race detector.
	cfg.BcryptCost = 4 // bcrypt.MinCost
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start TLS etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("TLS etcd not ready after 20s")
	}
	return clientURL.String()
}
