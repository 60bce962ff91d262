package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/agentconfig"
)

// usersTimeout bounds creating bootstrap.users after a bootstrap.
const usersTimeout = 60 * time.Second

// roleOption is what a bootstrap.users option may look like: keywords
// such as createdb or "connection limit 5".
var roleOption = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 ]*$`)

// createRoleSQL returns the statement creating a bootstrap.users entry.
func createRoleSQL(name string, u agentconfig.User) (string, error) {
	var b strings.Builder
	b.WriteString("CREATE ROLE ")
	b.WriteString(pgx.Identifier{name}.Sanitize())
	b.WriteString(" WITH LOGIN")
	for _, o := range u.Options {
		o = strings.TrimSpace(o)
		if !roleOption.MatchString(o) {
			return "", fmt.Errorf("bootstrap.users.%s: invalid role option %q", name, o)
		}
		b.WriteString(" " + strings.ToUpper(o))
	}
	if u.Password != "" {
		b.WriteString(" PASSWORD " + quoteLiteral(u.Password))
	}
	return b.String(), nil
}

// createUsers creates bootstrap.users on the freshly bootstrapped primary
// (Patroni before 4.0 does the same). Existing roles are left alone.
// Failures are logged: the cluster works without them.
func (a *agent) createUsers(ctx context.Context, cfg *agentconfig.Config) {
	if len(cfg.Bootstrap.Users) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, usersTimeout)
	defer cancel()
	names := make([]string, 0, len(cfg.Bootstrap.Users))
	for n := range cfg.Bootstrap.Users {
		names = append(names, n)
	}
	slices.Sort(names)
	conn, err := localConn(ctx, cfg)
	if err != nil {
		a.log.Error("bootstrap.users: roles not created", "err", err)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, n := range names {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", n).Scan(&exists); err != nil {
			a.log.Error("bootstrap.users: role not created", "role", n, "err", err)
			continue
		}
		if exists {
			a.log.Info("bootstrap.users: role exists already", "role", n)
			continue
		}
		stmt, err := createRoleSQL(n, cfg.Bootstrap.Users[n])
		if err == nil {
			_, err = conn.Exec(ctx, stmt)
		}
		if err != nil {
			a.log.Error("bootstrap.users: role not created", "role", n, "err", err)
			continue
		}
		a.log.Info("bootstrap.users: role created", "role", n)
	}
}
