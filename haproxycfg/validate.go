package haproxycfg

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// maxHostLen is the longest DNS name (RFC 1035).
const maxHostLen = 253

// validateName accepts names usable both as DCS member names and as HAProxy
// identifiers: dcs.ValidateName's [A-Za-z0-9._-] is a subset of what HAProxy
// allows in proxy and server names, and excludes everything the
// configuration parser treats specially.
func validateName(member, field, name string) error {
	if err := dcs.ValidateName(name); err != nil {
		return fieldErr(member, field, "%v", err)
	}
	return nil
}

// validateHost accepts an IP literal without zone or a DNS host name made of
// labels of letters, digits, '-' and '_' (the last tolerated because real
// deployments use it), whose last label is not all digits (so "10.0.0.256"
// is not silently resolved as a number).
func validateHost(member, field, host string) error {
	if host == "" {
		return fieldErr(member, field, "empty host")
	}
	if len(host) > maxHostLen {
		return fieldErr(member, field, "host %s longer than %d bytes", quoteShort(host), maxHostLen)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return fieldErr(member, field, "IPv6 zone in %s not supported", quoteShort(host))
		}
		return nil
	}
	labels := strings.Split(host, ".")
	for i, l := range labels {
		if l == "" {
			if i == len(labels)-1 && i > 0 { // fully qualified "db1.example."
				continue
			}
			return fieldErr(member, field, "host %s has an empty label", quoteShort(host))
		}
		if len(l) > 63 {
			return fieldErr(member, field, "host %s has a label longer than 63 bytes", quoteShort(host))
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fieldErr(member, field, "host %s: label %s starts or ends with '-'", quoteShort(host), quoteShort(l))
		}
		for _, r := range l {
			if !isAlnum(r) && r != '-' && r != '_' {
				return fieldErr(member, field, "host %s: character %q not allowed (IP literal or DNS name expected)", quoteShort(host), r)
			}
		}
	}
	last := labels[len(labels)-1]
	if last == "" {
		last = labels[len(labels)-2]
	}
	if strings.Trim(last, "0123456789") == "" {
		return fieldErr(member, field, "host %s is neither an IP address nor a DNS name", quoteShort(host))
	}
	return nil
}

func validatePort(member, field string, port int) error {
	if port < 1 || port > 65535 {
		return fieldErr(member, field, "port %d out of range 1-65535", port)
	}
	return nil
}

// validatePath accepts absolute paths made of letters, digits and
// "/._+,=@~:-": no whitespace, quotes, '#', '$' (environment expansion) or
// backslashes, nothing HAProxy's or Keepalived's tokenizers interpret.
func validatePath(field, p string) error {
	if p == "" {
		return fieldErr("", field, "empty path")
	}
	if len(p) > 4096 {
		return fieldErr("", field, "path longer than 4096 bytes")
	}
	if p[0] != '/' {
		return fieldErr("", field, "path %s is not absolute", quoteShort(p))
	}
	for _, r := range p {
		if !isAlnum(r) && !strings.ContainsRune("/._+,=@~:-", r) {
			return fieldErr("", field, "path %s: character %q not allowed", quoteShort(p), r)
		}
	}
	return nil
}

// validateDuration accepts whole milliseconds between min and an hour-ish
// upper bound that HAProxy's timer parser takes without overflow.
func validateDuration(field string, d, min, max time.Duration) error {
	if d < min || d > max {
		return fieldErr("", field, "%v out of range %v-%v", d, min, max)
	}
	if d%time.Millisecond != 0 {
		return fieldErr("", field, "%v is not a whole number of milliseconds", d)
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// formatMS renders a duration in HAProxy's time syntax.
func formatMS(d time.Duration) string {
	ms := d.Milliseconds()
	switch {
	case ms%3_600_000 == 0:
		return strconv.FormatInt(ms/3_600_000, 10) + "h"
	case ms%60_000 == 0:
		return strconv.FormatInt(ms/60_000, 10) + "m"
	case ms%1000 == 0:
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}
