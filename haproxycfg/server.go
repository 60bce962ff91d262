package haproxycfg

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// Server is one cluster member as HAProxy sees it: where PostgreSQL listens
// and where its health API answers.
type Server struct {
	// Name is the member name; it becomes the HAProxy server name.
	Name string
	// Host and Port address PostgreSQL (from the member's conn_url).
	Host string
	Port int
	// CheckHost and CheckPort address the health API (from api_url).
	// CheckHost "" means Host.
	CheckHost string
	CheckPort int
	// CheckTLS makes the health check use TLS (api_url scheme https).
	CheckTLS bool
}

// Validate checks every field; the error is a [*FieldError] naming the
// member and the field.
func (s Server) Validate() error {
	if err := validateName(s.Name, "name", s.Name); err != nil {
		return err
	}
	if err := validateHost(s.Name, "host", s.Host); err != nil {
		return err
	}
	if err := validatePort(s.Name, "port", s.Port); err != nil {
		return err
	}
	if s.CheckHost != "" {
		if err := validateHost(s.Name, "check host", s.CheckHost); err != nil {
			return err
		}
	}
	return validatePort(s.Name, "check port", s.CheckPort)
}

// checkHost returns the health API host.
func (s Server) checkHost() string {
	if s.CheckHost == "" {
		return s.Host
	}
	return s.CheckHost
}

// ServersFromMembers converts DCS members to servers. Members whose name,
// conn_url or api_url cannot be used are left out; err (joined
// [*FieldError]s, wrapping [ErrInvalid]) says which and why, while the
// returned servers are valid and can still be rendered. Nil members are
// ignored.
func ServersFromMembers(members []*dcs.Member) (servers []Server, err error) {
	var errs []error
	for _, m := range members {
		if m == nil {
			continue
		}
		s, err := serverFromMember(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		servers = append(servers, s)
	}
	return servers, errors.Join(errs...)
}

func serverFromMember(m *dcs.Member) (Server, error) {
	if err := validateName(m.Name, "name", m.Name); err != nil {
		return Server{}, err
	}
	host, port, _, err := splitURL(m.Name, "conn_url", m.ConnURL, 5432)
	if err != nil {
		return Server{}, err
	}
	chost, cport, scheme, err := splitURL(m.Name, "api_url", m.APIURL, 8008)
	if err != nil {
		return Server{}, err
	}
	s := Server{Name: m.Name, Host: host, Port: port, CheckPort: cport, CheckTLS: scheme == "https"}
	if chost != host {
		s.CheckHost = chost
	}
	return s, s.Validate()
}

// splitURL extracts host, port and scheme, with a field error for anything
// that does not parse.
func splitURL(member, field, raw string, defPort int) (string, int, string, error) {
	if raw == "" {
		return "", 0, "", fieldErr(member, field, "empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, "", fieldErr(member, field, "does not parse: %v", unwrapURLError(err))
	}
	if u.Host == "" {
		return "", 0, "", fieldErr(member, field, "%s has no host", quoteShort(raw))
	}
	port := defPort
	if p := u.Port(); p != "" {
		n, err := parsePort(p)
		if err != nil {
			return "", 0, "", fieldErr(member, field, "port %s: %v", quoteShort(p), err)
		}
		port = n
	}
	return u.Hostname(), port, strings.ToLower(u.Scheme), nil
}

func parsePort(p string) (int, error) {
	if len(p) > 5 {
		return 0, fmt.Errorf("out of range 1-65535")
	}
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("not a number")
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("out of range 1-65535")
	}
	return n, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// hostPort formats an address for HAProxy, bracketing IPv6 literals.
func hostPort(host string, port int) string {
	return bracket(host) + ":" + fmt.Sprint(port)
}

func bracket(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		return "[" + host + "]"
	}
	return host
}
