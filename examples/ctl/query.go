package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
)

// pickMember is patronictl's get_any_member: the member named, else the
// first member in role (the leader when neither is given). --role and
// --member exclude each other.
func (a *App) pickMember(c *dcs.Cluster, role, name string) (*dcs.Member, error) {
	if name != "" {
		if role != "" {
			return nil, fmt.Errorf("%w: --role and --member are mutually exclusive options", ErrUsage)
		}
		role = roleAny
	} else if role == "" {
		role = roleLeader
	}
	ms, err := membersInRole(c, role)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if name == "" || m.Name == name {
			return m, nil
		}
	}
	return nil, nil
}

func (a *App) cmdDSN(ctx context.Context, role, name string) error {
	if role != "" && name != "" {
		return fmt.Errorf("%w: --role and --member are mutually exclusive options", ErrUsage)
	}
	if _, err := membersInRole(&dcs.Cluster{}, role); err != nil {
		return err
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	m, err := a.pickMember(c, role, name)
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("can not find a suitable member")
	}
	host, port := m.Host()
	if host == "" {
		return fmt.Errorf("member %s has no usable conn_url", m.Name)
	}
	_, err = fmt.Fprintf(a.Out, "host=%s port=%d\n", listing.CleanCell(host), port)
	return err
}

// queryOptions are query's flags.
type queryOptions struct {
	command, file, format, delimiter string
	username, dbname, role, member   string
	password, w                      bool
	watch                            float64
}

// maxSQLBytes bounds the SQL read from --file.
const maxSQLBytes = 16 << 20

func (a *App) cmdQuery(ctx context.Context, o queryOptions) error {
	var sql string
	switch {
	case o.file != "" && o.command != "":
		return fmt.Errorf("%w: --file and --command are mutually exclusive options", ErrUsage)
	case o.file != "":
		var r io.Reader = a.In
		if o.file != "-" {
			f, err := os.Open(o.file)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		} else if r == nil {
			return fmt.Errorf("%w: no stdin", ErrUsage)
		}
		b, err := io.ReadAll(io.LimitReader(r, maxSQLBytes+1))
		if err != nil {
			return err
		}
		if len(b) > maxSQLBytes {
			return fmt.Errorf("%s: larger than %d bytes", o.file, maxSQLBytes)
		}
		sql = string(b)
	case o.command != "":
		sql = o.command
	default:
		return fmt.Errorf("%w: you need to specify either --command or --file", ErrUsage)
	}
	format, err := checkFormat(o.format)
	if err != nil {
		return err
	}
	if o.role != "" && o.member != "" {
		return fmt.Errorf("%w: --role and --member are mutually exclusive options", ErrUsage)
	}
	if _, err := membersInRole(&dcs.Cluster{}, o.role); err != nil {
		return err
	}
	interval, err := watchInterval(o.w, o.watch)
	if err != nil {
		return err
	}
	var password *string
	if o.password {
		p, err := a.password()
		if err != nil {
			return err
		}
		password = &p
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	failed := false
	err = a.watching(ctx, interval, false, func() error {
		var cols []string
		var rows [][]any
		if conn == nil {
			conn, err = a.connect(ctx, c, o, password)
		}
		if err == nil && conn == nil {
			msg := "No connection is available"
			switch {
			case o.member != "":
				msg = "No connection to member " + o.member + " is available"
			case o.role != "":
				msg = "No connection to role " + o.role + " is available"
			}
			rows = [][]any{{a.Now().Format("2006-01-02 15:04:05"), msg}}
			failed = true
		} else if err == nil {
			cols, rows, err = runSQL(ctx, conn, sql)
		}
		if err != nil {
			// As patronictl: the error is a row, and the connection is
			// opened again on the next round.
			msg := err.Error()
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				msg = pe.Code
			}
			rows = [][]any{{a.Now().Format("2006-01-02 15:04:05"), "ERROR, SQLSTATE: " + strings.ReplaceAll(msg, "\n", " ")}}
			failed = true
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
			err = nil
		}
		out := &listing.Table{Columns: cols, Rows: rows}
		if cols == nil && (format == fmtPretty) {
			out.Columns = []string{"Timestamp", "Error"}
		}
		return out.Write(a.Out, format, o.delimiter)
	})
	if err != nil {
		return err
	}
	if failed {
		return errors.New("the query failed")
	}
	return nil
}

// connect opens a connection to the member query runs on: its conn_url
// with -U, the password and -d. For --role other than any and leader, the
// server's pg_is_in_recovery() must agree with the role, else nil.
func (a *App) connect(ctx context.Context, c *dcs.Cluster, o queryOptions, password *string) (*pgx.Conn, error) {
	m, err := a.pickMember(c, o.role, o.member)
	if err != nil || m == nil {
		return nil, err
	}
	if m.ConnURL == "" {
		return nil, fmt.Errorf("member %s has no conn_url", m.Name)
	}
	cfg, err := pgx.ParseConfig(m.ConnURL)
	if err != nil {
		return nil, fmt.Errorf("member %s: conn_url: %w", m.Name, err)
	}
	if o.username != "" {
		cfg.User = o.username
	}
	if password != nil {
		cfg.Password = *password
	}
	// As patronictl: the conn_url's database is dropped; -d names one.
	cfg.Database = o.dbname
	if cfg.Database == "" {
		cfg.Database = cfg.User
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "pgha-ctl"
	}
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	switch o.role {
	case "", roleAny, roleLeader, "master":
		return conn, nil
	}
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if inRecovery == (o.role != rolePrimary) {
		return conn, nil
	}
	conn.Close(context.Background())
	return nil, nil
}

// runSQL runs sql (one or more statements, with the simple protocol) and
// returns the columns and rows of the last statement that returned rows,
// every value as text (NULL as nil).
func runSQL(ctx context.Context, conn *pgx.Conn, sql string) ([]string, [][]any, error) {
	results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	var cols []string
	var rows [][]any
	for _, r := range results {
		if r.Err != nil {
			return nil, nil, r.Err
		}
		if len(r.FieldDescriptions) == 0 {
			continue
		}
		cols, rows = nil, nil
		for _, f := range r.FieldDescriptions {
			cols = append(cols, f.Name)
		}
		for _, row := range r.Rows {
			vals := make([]any, len(row))
			for i, v := range row {
				if v != nil {
					vals[i] = typed(r.FieldDescriptions[i].DataTypeOID, string(v))
				}
			}
			rows = append(rows, vals)
		}
	}
	return cols, rows, nil
}

// typed turns the text of an integer or boolean column into a number or
// a boolean, so that -f json and yaml show them as patronictl does
// (psycopg decodes them); other types stay text.
func typed(oid uint32, text string) any {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	case pgtype.BoolOID:
		switch text {
		case "t":
			return true
		case "f":
			return false
		}
	}
	return text
}

func (a *App) cmdRemove(ctx context.Context, name, format string) error {
	f, err := checkFormat(format)
	if err != nil {
		return err
	}
	if err := a.checkCluster(name); err != nil {
		return err
	}
	c, snap, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	if err := a.outputMembers(c, false, f); err != nil {
		return err
	}
	answer, err := a.prompt("Please confirm the cluster name to remove")
	if err != nil {
		return err
	}
	if answer != name {
		return fmt.Errorf("%w: cluster names specified do not match", ErrAborted)
	}
	const aware = "Yes I am aware"
	answer, err = a.prompt(fmt.Sprintf("You are about to remove all information in DCS for %s, please type: %s", name, strconv.Quote(aware)))
	if err != nil {
		return err
	}
	if answer != aware {
		return fmt.Errorf("%w: you did not exactly type %q", ErrAborted, aware)
	}
	if c.Leader != nil && c.Leader.Name != "" {
		answer, err = a.prompt("This cluster currently is healthy. Please specify the leader name to continue")
		if err != nil {
			return err
		}
		if answer != c.Leader.Name {
			return fmt.Errorf("%w: you did not specify the current leader of the cluster", ErrAborted)
		}
	}
	keys := make([]string, 0, len(snap.KVs))
	for _, kv := range snap.KVs {
		keys = append(keys, kv.Key)
	}
	// The leader key last: agents still running see members vanish
	// before the leadership does.
	slices.SortFunc(keys, func(x, y string) int {
		switch {
		case x == dcs.KeyLeader:
			return 1
		case y == dcs.KeyLeader:
			return -1
		}
		return strings.Compare(x, y)
	})
	for _, k := range keys {
		if err := a.Store.Delete(ctx, k, dcs.Cond{}); err != nil {
			return fmt.Errorf("removing %s: %w", k, err)
		}
	}
	return nil
}
