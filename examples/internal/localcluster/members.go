package localcluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"text/tabwriter"

	"github.com/pgha/pgha/dcs"
)

// MemberRow is one line of a `pgha-ctl list`-like table.
type MemberRow struct {
	Member string
	Host   string
	// Role is Leader or Replica.
	Role string
	// State is the member key's state, or replication_state when it
	// streams ("streaming").
	State string
	// TL is the timeline, 0 when unknown.
	TL int64
	// LagMB is the replay lag behind the leader in MB; LagKnown is false
	// for the leader and when positions are unknown.
	LagMB    float64
	LagKnown bool
}

// Members returns the rows of the members in the DCS, sorted by name.
func (c *Cluster) Members(ctx context.Context) ([]MemberRow, error) {
	cl, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return memberRows(cl), nil
}

// memberRows computes the rows from a decoded cluster.
func memberRows(cl *dcs.Cluster) []MemberRow {
	leader := ""
	if cl.Leader != nil {
		leader = cl.Leader.Name
	}
	var ref int64
	if lm := cl.LeaderMember(); lm != nil {
		ref = lm.LSN()
	}
	if cl.Status != nil && cl.Status.Optime > ref {
		ref = cl.Status.Optime
	}
	rows := make([]MemberRow, 0, len(cl.Members))
	for _, m := range cl.Members {
		r := MemberRow{Member: m.Name, Role: "Replica", State: m.State}
		if host, port := m.Host(); host != "" {
			r.Host = net.JoinHostPort(host, strconv.Itoa(port))
		}
		if m.Timeline != nil {
			r.TL = *m.Timeline
		}
		if m.Name == leader {
			r.Role = "Leader"
		} else {
			if m.ReplicationState != "" && m.State == dcs.StateRunning {
				r.State = m.ReplicationState
			}
			if lsn := m.LSN(); lsn > 0 && ref > 0 {
				r.LagMB, r.LagKnown = float64(max(ref-lsn, 0))/(1<<20), true
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// WriteTable writes rows as a table like `patronictl list`.
func WriteTable(w io.Writer, rows []MemberRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Member\tHost\tRole\tState\tTL\tLag in MB")
	for _, r := range rows {
		tl, lag := "", ""
		if r.TL > 0 {
			tl = strconv.FormatInt(r.TL, 10)
		}
		if r.LagKnown {
			lag = strconv.FormatFloat(r.LagMB, 'f', 1, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Member, r.Host, r.Role, r.State, tl, lag)
	}
	return tw.Flush()
}
