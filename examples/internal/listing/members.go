package listing

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
)

// Member is one member as `list` shows it, computed from the DCS only,
// as patronictl does (through cluster_as_json).
type Member struct {
	Name, Host string
	Port       int
	// Role is cluster_as_json's: leader, standby_leader, sync_standby,
	// quorum_standby or replica.
	Role  string
	State string
	TL    *int64
	// The LSNs are formatted ("0/40004E8") or "unknown"; the lags are in
	// bytes, -1 when unknown. Neither is set for the leader.
	ReceiveLSN, ReplayLSN string
	ReceiveLag, ReplayLag int64
	PendingRestart        bool
	PendingReason         map[string]struct{ Old, New string }
	ScheduledRestart      string
	Tags                  dcs.Tags
}

// Members computes the member list of a decoded cluster.
func Members(c *dcs.Cluster) []Member {
	leader := ""
	if c.Leader != nil {
		leader = c.Leader.Name
	}
	// Patroni's rule: host, port or restore_command makes a standby cluster.
	sc, _ := failover.StandbyClusterOf(c.Config)
	standby := sc.Active()
	// The lag reference: the leader's published optime, else the leader
	// member's own WAL position.
	var ref int64
	if c.Status != nil && c.Status.Optime > 0 {
		ref = c.Status.Optime
	} else if lm := c.LeaderMember(); lm != nil {
		ref = lm.LSN()
	}
	lsnLag := func(p *int64) (string, int64) {
		if p == nil || *p == 0 || ref == 0 {
			if p != nil && *p != 0 {
				return healthapi.FormatLSN(*p), -1
			}
			return "unknown", -1
		}
		return healthapi.FormatLSN(*p), max(0, ref-*p)
	}
	out := make([]Member, 0, len(c.Members))
	for _, m := range c.Members {
		r := Member{Name: m.Name, TL: m.Timeline, Tags: m.Tags, PendingRestart: m.PendingRestart, State: m.State}
		r.Host, r.Port = m.Host()
		r.Role = c.ListRole(m.Name, standby)
		if m.Name != leader {
			if m.ReplicationState != "" {
				r.State = m.ReplicationState
			}
			r.ReceiveLSN, r.ReceiveLag = lsnLag(m.ReceiveLSN)
			r.ReplayLSN, r.ReplayLag = lsnLag(m.ReplayLSN)
			// A member that publishes only xlog_location (an older
			// Patroni): its one position is shown where it belongs.
			if r.ReceiveLSN == "unknown" && r.ReplayLSN == "unknown" {
				if l := m.LSN(); l != 0 {
					lsn, lag := lsnLag(&l)
					if r.State == "streaming" {
						r.ReceiveLSN, r.ReceiveLag = lsn, lag
					} else {
						r.ReplayLSN, r.ReplayLag = lsn, lag
					}
				}
			}
		}
		if len(m.PendingReason) > 0 {
			var reasons map[string]struct {
				Old string `json:"old_value"`
				New string `json:"new_value"`
			}
			if json.Unmarshal(m.PendingReason, &reasons) == nil && len(reasons) > 0 {
				r.PendingReason = map[string]struct{ Old, New string }{}
				for k, v := range reasons {
					r.PendingReason[k] = struct{ Old, New string }{v.Old, v.New}
				}
			}
		}
		if len(m.ScheduledRestart) > 0 {
			var s struct {
				Schedule        string `json:"schedule"`
				PostgresVersion string `json:"postgres_version"`
			}
			if json.Unmarshal(m.ScheduledRestart, &s) == nil && s.Schedule != "" {
				r.ScheduledRestart = s.Schedule
				if s.PostgresVersion != "" {
					r.ScheduledRestart += " if version < " + s.PostgresVersion
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// Title is the header of the member table, patronictl's
// " Cluster: NAME (SYSID) ", with "uninitialized" or "initializing" for
// a cluster not bootstrapped yet.
func Title(scope string, c *dcs.Cluster) string {
	state := "uninitialized"
	if c.Initialize != nil {
		state = *c.Initialize
		if state == "" {
			state = "initializing"
		}
	}
	return " Cluster: " + scope + " (" + state + ") "
}

// lagMB renders a lag as patronictl does: MB rounded half to even, empty
// when unknown.
func lagMB(lag int64, lsn string) any {
	if lsn == "" || lag < 0 {
		return ""
	}
	return int64(math.RoundToEven(float64(lag) / (1 << 20)))
}

// MemberTable is the member list in format f (pretty, topology, tsv,
// json, yaml), with the Pending restart, Pending restart reason,
// Scheduled restart and Tags columns always when extended and otherwise
// when any member has a value for them.
func MemberTable(scope string, c *dcs.Cluster, extended bool, f string) *Table {
	ms := Members(c)
	if f == FormatTopology {
		ms = TopologySort(ms)
	}
	cols := []string{"Cluster", "Member", "Host", "Role", "State", "TL", "Receive LSN", "Receive Lag", "Replay LSN", "Replay Lag"}
	var pending, reason, scheduled, tags bool
	hosts := map[string]bool{}
	appendPort := false
	withHost := 0
	for _, m := range ms {
		pending = pending || m.PendingRestart
		reason = reason || len(m.PendingReason) > 0
		scheduled = scheduled || m.ScheduledRestart != ""
		tags = tags || len(m.Tags) > 0
		if m.Host != "" {
			withHost++
			hosts[m.Host] = true
			appendPort = appendPort || m.Port != 5432
		}
	}
	// host:port when a member is on another port than 5432 or two share
	// a host.
	appendPort = appendPort || len(hosts) < withHost
	for _, x := range []struct {
		on   bool
		name string
	}{{pending, "Pending restart"}, {reason, "Pending restart reason"}, {scheduled, "Scheduled restart"}, {tags, "Tags"}} {
		if extended || x.on {
			cols = append(cols, x.name)
		}
	}
	o := &Table{Title: Title(scope, c), ListCluster: true, Right: map[int]bool{5: true, 6: true, 7: true, 8: true, 9: true}}
	pretty := f == FormatPretty || f == FormatTopology
	for _, m := range ms {
		host := m.Host
		if appendPort && host != "" {
			host = net.JoinHostPort(host, strconv.Itoa(m.Port))
		}
		var tl any = ""
		if m.TL != nil {
			tl = *m.TL
		}
		role := strings.ReplaceAll(m.Role, "_", " ")
		words := strings.Fields(role)
		for i, w := range words {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
		row := []any{scope, m.Name, host, strings.Join(words, " "), m.State, tl,
			m.ReceiveLSN, lagMB(m.ReceiveLag, m.ReceiveLSN), m.ReplayLSN, lagMB(m.ReplayLag, m.ReplayLSN)}
		for _, col := range cols[10:] {
			switch col {
			case "Pending restart":
				v := ""
				if m.PendingRestart {
					v = "*"
				}
				row = append(row, v)
			case "Pending restart reason":
				var lines []string
				for _, k := range sortedKeys(m.PendingReason) {
					d := k + ": " + m.PendingReason[k].Old + "->" + m.PendingReason[k].New
					if pretty && len(d) > 50 {
						d = k + ": [hidden - too long]"
					}
					lines = append(lines, d)
				}
				row = append(row, strings.Join(lines, "\n"))
			case "Scheduled restart":
				row = append(row, m.ScheduledRestart)
			case "Tags":
				if len(m.Tags) == 0 {
					row = append(row, "")
				} else {
					row = append(row, map[string]any(m.Tags))
				}
			}
		}
		o.Rows = append(o.Rows, row)
	}
	if pretty {
		// Both lag columns are "Lag" on screen, after their LSN column.
		cols[7], cols[9] = "Lag", "Lag"
	}
	o.Columns = cols
	return o
}

// TopologySort orders the members as a replication tree: the leader, then
// each member under the one it replicates from (the replicatefrom tag
// when it names another replica, else the leader), names indented.
func TopologySort(ms []Member) []Member {
	leader := ""
	replicas := map[string]bool{}
	for _, m := range ms {
		if strings.HasSuffix(m.Role, "leader") {
			if leader == "" {
				leader = m.Name
			}
		} else {
			replicas[m.Name] = true
		}
	}
	children := map[string][]Member{}
	var root *Member
	for i, m := range ms {
		if m.Name == leader && root == nil {
			root = &ms[i]
			continue
		}
		parent := leader
		if p, ok := m.Tags["replicatefrom"].(string); ok && p != "" && p != m.Name && replicas[p] {
			parent = p
		}
		children[parent] = append(children[parent], m)
	}
	var out []Member
	seen := map[string]bool{}
	var walk func(level int, m Member)
	walk = func(level int, m Member) {
		if seen[m.Name] {
			return // a replicatefrom cycle: shown once
		}
		seen[m.Name] = true
		kids := children[m.Name]
		if level > 0 {
			m.Name = strings.Repeat(" ", (level-1)*2) + "+ " + m.Name
		}
		if m.Name != "" {
			out = append(out, m)
		}
		for _, k := range kids {
			walk(level+1, k)
		}
	}
	if root != nil {
		walk(0, *root)
	} else {
		walk(0, Member{})
	}
	// Members in a replicatefrom cycle hang from no one: shown last, so
	// that no member disappears from the list.
	for _, m := range ms {
		if !seen[m.Name] && m.Name != "" && m.Name != leader {
			walk(1, m)
		}
	}
	return out
}

// WriteMembers writes the member list of c as `pgha-ctl list` prints it
// (and `patronictl list`): the table in format f, with the service
// information (maintenance mode, a scheduled switchover) under pretty and
// topology tables. scope is the Cluster column and the table's title.
func WriteMembers(w io.Writer, scope string, c *dcs.Cluster, extended bool, f string) error {
	if err := MemberTable(scope, c, extended, f).Write(w, f, "\t"); err != nil {
		return err
	}
	if f == FormatPretty || f == FormatTopology {
		if _, err := io.WriteString(w, ServiceInfo(c)); err != nil {
			return err
		}
	}
	return nil
}

// ServiceInfo is what patronictl prints under the table: maintenance
// mode and a scheduled switchover.
func ServiceInfo(c *dcs.Cluster) string {
	var info []string
	if c.IsPaused() {
		info = append(info, "Maintenance mode: on")
	}
	if f := c.Failover; f != nil && f.ScheduledAt != nil {
		s := "Switchover scheduled at: " + f.ScheduledAt.Format("2006-01-02T15:04:05.999999-07:00")
		if f.Leader != "" {
			s += fmt.Sprintf("\n%24s: %s", "from", CleanCell(f.Leader))
		}
		if f.Member != "" {
			s += fmt.Sprintf("\n%24s: %s", "to", CleanCell(f.Member))
		}
		info = append(info, s)
	}
	if len(info) == 0 {
		return ""
	}
	return " " + strings.Join(info, "\n ") + "\n"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
