package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/pgha/pgha/agentconfig"
)

// applyDCSURL replaces the configuration's DCS with the one of a
// patronictl --dcs-url, DCS://HOST:PORT/NAMESPACE: etcd3, etcd (read as
// etcd3, as everywhere in pgha) or consul. A URL without a scheme is
// etcd, or the DCS whose default port it names (8500: consul); without a
// host it is localhost; without a port the DCS's default; a path sets the
// namespace. zookeeper and exhibitor are patronictl's too, but pgha has
// no such backend.
func applyDCSURL(cfg *agentconfig.Config, raw string) error {
	s := raw
	if !strings.Contains(s, "//") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: --dcs-url %.80q: %v", ErrUsage, raw, err)
	}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("%w: --dcs-url %.80q: bad port", ErrUsage, raw)
		}
	}
	scheme := u.Scheme
	if scheme == "" {
		scheme = "etcd"
		switch port {
		case 8500:
			scheme = "consul"
		case 2181:
			scheme = "zookeeper"
		case 8181:
			scheme = "exhibitor"
		}
	}
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	switch scheme {
	case "etcd", "etcd3", "consul":
	case "zookeeper", "exhibitor":
		return fmt.Errorf("%w: --dcs-url %.80q: pgha has no %s backend (etcd3, etcd or consul)", ErrUsage, raw, scheme)
	default:
		return fmt.Errorf("%w: --dcs-url %.80q: unknown dcs scheme %q", ErrUsage, raw, scheme)
	}
	cfg.Etcd3, cfg.Etcd, cfg.Consul = nil, nil, nil
	if scheme == "consul" {
		if port == 0 {
			port = 8500
		}
		cfg.Consul = &agentconfig.Consul{Host: net.JoinHostPort(host, strconv.Itoa(port))}
	} else {
		if port == 0 {
			port = 2379
		}
		cfg.Etcd3 = &agentconfig.Etcd{Host: net.JoinHostPort(host, strconv.Itoa(port))}
	}
	if p := strings.TrimSpace(u.Path); p != "" && p != "/" {
		cfg.Namespace = p
	}
	return nil
}
