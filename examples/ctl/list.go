package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// memberRow is one line of `list`. The JSON names are patronictl's
// (`patronictl list -f json`), so scripts written for it keep working.
type memberRow struct {
	Cluster          string   `json:"Cluster"`
	Member           string   `json:"Member"`
	Host             string   `json:"Host"`
	Role             string   `json:"Role"`
	State            string   `json:"State"`
	TL               *int64   `json:"TL,omitempty"`
	Lag              any      `json:"Lag in MB,omitempty"`
	PendingRestart   string   `json:"Pending restart,omitempty"`
	ScheduledRestart string   `json:"Scheduled restart,omitempty"`
	Tags             dcs.Tags `json:"Tags,omitempty"`
}

// Role names as patronictl prints them.
const (
	roleLeader        = "Leader"
	roleStandbyLeader = "Standby Leader"
	roleSyncStandby   = "Sync Standby"
	roleQuorumStandby = "Quorum Standby"
	roleReplica       = "Replica"
)

// clusterRows computes the rows of `list` from a decoded cluster.
func clusterRows(scope string, c *dcs.Cluster) []memberRow {
	leader := ""
	if c.Leader != nil {
		leader = c.Leader.Name
	}
	standby := c.Config != nil && c.Config.Extra["standby_cluster"] != nil && string(c.Config.Extra["standby_cluster"]) != "null"
	mode := c.Config.SyncMode()
	// The lag reference: the leader's published optime, else the leader
	// member's own WAL position.
	var ref int64
	if c.Status != nil && c.Status.Optime > 0 {
		ref = c.Status.Optime
	} else if lm := c.LeaderMember(); lm != nil {
		ref = lm.LSN()
	}
	rows := make([]memberRow, 0, len(c.Members))
	for _, m := range c.Members {
		r := memberRow{Cluster: scope, Member: m.Name, TL: m.Timeline, Tags: m.Tags}
		if host, port := m.Host(); host != "" {
			r.Host = net.JoinHostPort(host, strconv.Itoa(port))
		}
		switch {
		case m.Name == leader && standby:
			r.Role = roleStandbyLeader
		case m.Name == leader:
			r.Role = roleLeader
		case mode == "quorum" && c.Sync.IsSync(m.Name):
			r.Role = roleQuorumStandby
		case mode == "on" && c.Sync.IsSync(m.Name):
			r.Role = roleSyncStandby
		default:
			r.Role = roleReplica
		}
		r.State = m.State
		if m.Name != leader {
			if m.ReplicationState != "" {
				r.State = m.ReplicationState
			}
			lsn := m.LSN()
			if lsn == 0 || ref == 0 {
				r.Lag = "unknown"
			} else {
				r.Lag = int64(math.Round(float64(max(0, ref-lsn)) / (1 << 20)))
			}
		}
		if m.PendingRestart {
			r.PendingRestart = "*"
		}
		if len(m.ScheduledRestart) > 0 {
			var s struct {
				Schedule string `json:"schedule"`
			}
			if json.Unmarshal(m.ScheduledRestart, &s) == nil {
				r.ScheduledRestart = s.Schedule
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// header is the title of the list table: cluster name and system
// identifier, or the bootstrap state.
func header(scope string, c *dcs.Cluster) string {
	switch {
	case c.Initialize == nil:
		return "Cluster: " + scope + " (uninitialized)"
	case *c.Initialize == "":
		return "Cluster: " + scope + " (initializing)"
	}
	return "Cluster: " + scope + " (" + *c.Initialize + ")"
}

func (a *App) cmdList(ctx context.Context, args []string) error {
	fs := a.flags("list")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	rows := clusterRows(a.Scope, c)
	if a.JSON {
		return a.printJSON(rows)
	}
	return writeList(a, header(a.Scope, c), c, rows)
}

func writeList(a *App, title string, c *dcs.Cluster, rows []memberRow) error {
	t := &table{title: title, columns: []string{"Member", "Host", "Role", "State", "TL", "Lag in MB"},
		right: map[string]bool{"TL": true, "Lag in MB": true}}
	var pending, scheduled, tags bool
	for _, r := range rows {
		pending = pending || r.PendingRestart != ""
		scheduled = scheduled || r.ScheduledRestart != ""
		tags = tags || len(r.Tags) > 0
	}
	if pending {
		t.columns = append(t.columns, "Pending restart")
	}
	if scheduled {
		t.columns = append(t.columns, "Scheduled restart")
	}
	if tags {
		t.columns = append(t.columns, "Tags")
	}
	for _, r := range rows {
		tl := ""
		if r.TL != nil {
			tl = strconv.FormatInt(*r.TL, 10)
		}
		lag := ""
		if r.Lag != nil {
			lag = fmt.Sprint(r.Lag)
		}
		cells := []string{r.Member, r.Host, r.Role, r.State, tl, lag}
		if pending {
			cells = append(cells, r.PendingRestart)
		}
		if scheduled {
			cells = append(cells, r.ScheduledRestart)
		}
		if tags {
			cells = append(cells, formatTags(r.Tags))
		}
		for i := range cells {
			cells[i] = cleanCell(cells[i])
		}
		t.rows = append(t.rows, cells)
	}
	if err := t.write(a.Out); err != nil {
		return err
	}
	if c.IsPaused() {
		fmt.Fprintln(a.Out, " Maintenance mode: on")
	}
	if f := c.Failover; f != nil && f.ScheduledAt != nil {
		fmt.Fprintf(a.Out, " Switchover scheduled at: %s\n", f.ScheduledAt.Format("2006-01-02T15:04:05-07:00"))
		if f.Leader != "" {
			fmt.Fprintf(a.Out, "                    from: %s\n", cleanCell(f.Leader))
		}
		if f.Member != "" {
			fmt.Fprintf(a.Out, "                      to: %s\n", cleanCell(f.Member))
		}
	}
	return nil
}

// formatTags renders tags as "k: v, k: v", sorted.
func formatTags(t dcs.Tags) string {
	parts := make([]string, 0, len(t))
	for _, k := range sortedKeys(t) {
		v, _ := json.Marshal(t[k])
		parts = append(parts, k+": "+strings.Trim(string(v), `"`))
	}
	return strings.Join(parts, ", ")
}
