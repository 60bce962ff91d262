package healthapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
)

// Auth configures who may call the management endpoints. Every configured
// mechanism must pass.
type Auth struct {
	// Username and Password enable HTTP basic authentication. They are
	// compared in constant time through their SHA-256 digests, so neither
	// content nor length leaks through timing.
	Username string
	Password string
	// RequireClientCert requires a client certificate verified by the TLS
	// server configuration (see [ServerTLSConfig]). Without one the request
	// is refused with 403, as Patroni's verify_client does.
	RequireClientCert bool
	// Allowlist, when non-empty, restricts management requests to clients
	// whose address lies in one of the prefixes (403 otherwise). It
	// applies to POST /failsafe too, as Patroni's restapi.allowlist does,
	// so with failsafe mode it must include the members' addresses.
	Allowlist []netip.Prefix
	// Realm is sent in WWW-Authenticate; default "pgha".
	Realm string
}

func (a Auth) enabled() bool { return a.Username != "" || a.RequireClientCert }

// authenticator checks management requests.
type authenticator struct {
	userSum, passSum [sha256.Size]byte
	basic            bool
	cert             bool
	allow            []netip.Prefix
	challenge        string
}

func newAuthenticator(a Auth) *authenticator {
	realm := a.Realm
	if realm == "" {
		realm = "pgha"
	}
	return &authenticator{
		userSum:   sha256.Sum256([]byte(a.Username)),
		passSum:   sha256.Sum256([]byte(a.Password)),
		basic:     a.Username != "",
		cert:      a.RequireClientCert,
		allow:     a.Allowlist,
		challenge: `Basic realm="` + realm + `"`,
	}
}

// check returns 0 when r may proceed, else the status code to refuse with
// and a message.
func (a *authenticator) check(r *http.Request) (int, string) {
	if len(a.allow) > 0 && !a.allowed(r.RemoteAddr) {
		return http.StatusForbidden, "Access is denied"
	}
	if a.cert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		return http.StatusForbidden, "client certificate required"
	}
	if a.basic {
		u, p, ok := r.BasicAuth()
		us, ps := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		// Both comparisons always run: no short cut tells which one failed.
		match := subtle.ConstantTimeCompare(us[:], a.userSum[:]) & subtle.ConstantTimeCompare(ps[:], a.passSum[:])
		if !ok {
			return http.StatusUnauthorized, "no auth header received"
		}
		if match != 1 {
			return http.StatusUnauthorized, "not authenticated"
		}
	}
	return 0, ""
}

func (a *authenticator) allowed(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
