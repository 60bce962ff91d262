package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/agentconfig"
)

// localConnTimeout bounds connecting to the local server.
const localConnTimeout = 5 * time.Second

// localDSN is a superuser connection string to the local PostgreSQL over
// TCP on its first listen address (loopback for a wildcard).
func localDSN(cfg *agentconfig.Config) (string, error) {
	lc, err := cfg.PGLocalConfig(nil)
	if err != nil {
		return "", err
	}
	host := strings.TrimSpace(strings.Split(lc.ListenAddresses, ",")[0])
	if host == "" || host == "*" || host == "0.0.0.0" {
		host = "127.0.0.1"
	} else if host == "::" {
		host = "::1"
	}
	su := cfg.Postgres.Authentication.Superuser
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(su.Username, su.Password),
		Host:     net.JoinHostPort(host, strconv.Itoa(lc.Port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable&application_name=pgha-agent&connect_timeout=" + strconv.Itoa(int(localConnTimeout/time.Second)),
	}
	return u.String(), nil
}

// localConn connects to the local server as the superuser.
func localConn(ctx context.Context, cfg *agentconfig.Config) (*pgx.Conn, error) {
	dsn, err := localDSN(cfg)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, localConnTimeout)
	defer cancel()
	c, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to the local PostgreSQL: %w", err)
	}
	return c, nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
