package pglocal

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pgha/pgha/pg"
)

// File names inside the data directory that Local owns.
const (
	pghaConfFile  = "pgha.conf"
	pghaHBAFile   = "pgha_hba.conf"
	pghaIdentFile = "pgha_ident.conf"
	includeLine   = "include = 'pgha.conf'\t# added by pgha; settings in pgha.conf are managed by pgha"
)

// defaultParams are the settings every member needs for replication and
// rewind; user Parameters override them.
var defaultParams = map[string]string{
	"wal_level":             "replica",
	"hot_standby":           "on",
	"wal_log_hints":         "on",
	"max_wal_senders":       "10",
	"max_replication_slots": "10",
	"wal_keep_size":         "128MB",
	"password_encryption":   "scram-sha-256",
	// A replica that has just lost its upstream sleeps this long before it
	// acts on a promote request; PostgreSQL's 5 s default would add up to
	// 5 s to a failover.
	"wal_retrieve_retry_interval": "1s",
	// An idle primary sends nothing unasked while its standby keeps
	// replying: it sends a keepalive only after wal_sender_timeout/2 without
	// a reply, and the standby replies every wal_receiver_status_interval.
	// The standby asks for one after wal_receiver_timeout/2 of silence, so
	// this bounds the age of pg_stat_wal_receiver.last_msg_receipt_time on
	// an idle cluster to about 1 s (PostgreSQL's 60 s default allows 30 s),
	// within failover's StreamingFreshness of 2 s. The price: a receiver
	// that hears nothing for 2 s, even after asking, reconnects, after
	// wal_retrieve_retry_interval; a live upstream answers within
	// milliseconds. wal_sender_timeout is left alone: lowering it would
	// only make the primary drop standbys that are slow to reply.
	"wal_receiver_timeout": "2s",
}

// defaultHBA allows password (scram) logins on the unix socket and loopback.
var defaultHBA = []string{
	"local   all          all                   scram-sha-256",
	"host    all          all    127.0.0.1/32   scram-sha-256",
	"host    all          all    ::1/128        scram-sha-256",
	"local   replication  all                   scram-sha-256",
	"host    replication  all    127.0.0.1/32   scram-sha-256",
	"host    replication  all    ::1/128        scram-sha-256",
}

// validParamName accepts GUC names, including custom "ext.name" ones.
func validParamName(name string) error {
	if name == "" || len(name) > maxIdentifierLen {
		return fmt.Errorf("parameter name must be 1 to 63 characters")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r == '_' || (i > 0 && (r >= '0' && r <= '9' || r == '.'))
		if !ok {
			return fmt.Errorf("parameter name %q may contain only lower-case [a-z0-9_.]", name)
		}
	}
	return nil
}

// validParamValue rejects characters that cannot be written inside a
// quoted configuration-file string.
func validParamValue(v string) error {
	return printable(v)
}

// quoteConfValue renders v as a quoted postgresql.conf string: inside
// single quotes, backslash and quote are escaped, so a value can never end
// the string or start a new setting.
func quoteConfValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`)
	return "'" + r.Replace(v) + "'"
}

// confState is what pgha.conf holds besides the static configuration.
type confState struct {
	primaryConninfo string
	primarySlot     string
	syncNames       string
	// recovery are FollowConfig.Recovery, written over
	// Config.RecoveryConf while standby.
	recovery map[string]string
	// standby adds Config.RecoveryConf: the server runs, or is about
	// to run, as a replica.
	standby bool
	// bootstrapRecovery are a custom bootstrap's recovery settings
	// (BootstrapMethod.RecoveryConf), written while its point-in-time
	// recovery runs, and only then: a recovery target left in place would
	// stop a later replica at the same point.
	bootstrapRecovery map[string]string
	// bootstrapPeer is the OS user this process runs as while a custom
	// bootstrap runs: the restored roles' passwords are not ours yet, so
	// Local connects as the superuser through peer authentication mapped
	// from that OS user only.
	bootstrapPeer string
}

// renderConf returns the content of pgha.conf.
func renderConf(c Config, local map[string]string, cc pg.ClusterConfig, st confState) []byte {
	params := mergedParams(local, cc)
	params["listen_addresses"] = c.ListenAddresses
	params["port"] = strconv.Itoa(c.Port)
	params["unix_socket_directories"] = c.SocketDir
	params["hba_file"] = filepath.Join(c.DataDir, pghaHBAFile)
	params["ident_file"] = filepath.Join(c.DataDir, pghaIdentFile)
	params["primary_conninfo"] = st.primaryConninfo
	params["primary_slot_name"] = st.primarySlot
	params["synchronous_standby_names"] = st.syncNames
	if st.standby {
		maps.Copy(params, c.RecoveryConf)
		maps.Copy(params, st.recovery)
	}
	maps.Copy(params, st.bootstrapRecovery)
	var b strings.Builder
	b.WriteString("# Written by pgha for member " + strconv.Quote(c.Name) + ". Do not edit: rewritten before every start.\n")
	for _, k := range slices.Sorted(maps.Keys(params)) {
		fmt.Fprintf(&b, "%s = %s\n", k, quoteConfValue(params[k]))
	}
	return []byte(b.String())
}

// renderHBA returns the content of pgha_hba.conf: the local lines, else
// the cluster's, else pgha's defaults.
func renderHBA(c Config, cc pg.ClusterConfig) []byte {
	lines := c.HBA
	if len(lines) == 0 {
		lines = cc.HBA
	}
	if len(lines) == 0 {
		lines = defaultHBA
	}
	return []byte("# Written by pgha. Do not edit: rewritten before every start and reload.\n" + strings.Join(lines, "\n") + "\n")
}

// renderIdent returns the content of pgha_ident.conf.
func renderIdent(cc pg.ClusterConfig) []byte {
	b := "# Written by pgha from the cluster's pg_ident. Do not edit: rewritten before every start and reload.\n"
	if len(cc.Ident) > 0 {
		b += strings.Join(cc.Ident, "\n") + "\n"
	}
	return []byte(b)
}

// bootstrapIdentMap is the pg_ident map of the peer rule used while a
// custom bootstrap runs.
const bootstrapIdentMap = "pgha_bootstrap"

// withBootstrapPeer adds to rendered pg_hba and pg_ident contents a first
// rule letting osUser (and only it) connect as the superuser through the
// unix socket by peer authentication.
func withBootstrapPeer(hba, ident []byte, osUser, superuser string) ([]byte, []byte) {
	rule := fmt.Sprintf("local   all  %s  peer map=%s\n", hbaQuote(superuser), bootstrapIdentMap)
	_, rest, _ := strings.Cut(string(hba), "\n")
	hba = []byte("# Written by pgha during a custom bootstrap: the superuser by peer authentication, then the usual rules.\n" + rule + rest)
	ident = append(ident, []byte(fmt.Sprintf("%s  %s  %s\n", bootstrapIdentMap, hbaQuote(osUser), hbaQuote(superuser)))...)
	return hba, ident
}

// hbaQuote double-quotes a pg_hba.conf or pg_ident.conf token.
func hbaQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// conninfoValue quotes a libpq connection-string value.
func conninfoValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// conninfo builds a libpq key/value connection string. Keys are written in
// the order given; empty values are left out.
func conninfo(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+conninfoValue(kv[i+1]))
		}
	}
	return strings.Join(parts, " ")
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings on).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// parseOwnConf reads back the settings of a pgha.conf written by
// renderConf (one "name = 'quoted'" per line), so an agent restarted on an
// existing replica keeps its upstream.
func parseOwnConf(data string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(line, " = ")
		if !ok || validParamName(k) != nil || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			continue
		}
		var b strings.Builder
		body := v[1 : len(v)-1]
		for i := 0; i < len(body); i++ {
			if (body[i] == '\\' || body[i] == '\'') && i+1 < len(body) {
				i++
			}
			b.WriteByte(body[i])
		}
		out[k] = b.String()
	}
	return out
}
