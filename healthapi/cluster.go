package healthapi

import (
	"fmt"

	"github.com/pgha/pgha/dcs"
)

// clusterDoc is GET /cluster, with the fields of Patroni's cluster_as_json.
type clusterDoc struct {
	Members             []clusterMember `json:"members"`
	Scope               string          `json:"scope,omitempty"`
	Pause               bool            `json:"pause,omitempty"`
	ScheduledSwitchover *scheduledDoc   `json:"scheduled_switchover,omitempty"`
}

type scheduledDoc struct {
	At   string `json:"at"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

type clusterMember struct {
	Name           string   `json:"name"`
	Role           string   `json:"role"`
	State          string   `json:"state"`
	APIURL         string   `json:"api_url"`
	Host           string   `json:"host,omitempty"`
	Port           int      `json:"port,omitempty"`
	Timeline       *int64   `json:"timeline,omitempty"`
	PendingRestart bool     `json:"pending_restart,omitempty"`
	PendingReason  any      `json:"pending_restart_reason,omitempty"`
	Scheduled      any      `json:"scheduled_restart,omitempty"`
	Tags           dcs.Tags `json:"tags,omitempty"`
	// LSNs are formatted X/Y; lags are bytes behind the cluster's optime.
	// Both are "unknown" when the member did not publish the position.
	ReceiveLSN any `json:"receive_lsn,omitempty"`
	ReceiveLag any `json:"receive_lag,omitempty"`
	ReplayLSN  any `json:"replay_lsn,omitempty"`
	ReplayLag  any `json:"replay_lag,omitempty"`
	LSN        any `json:"lsn,omitempty"`
	Lag        any `json:"lag,omitempty"`
}

// FormatLSN renders a WAL position as PostgreSQL prints it, "16/B374D848".
func FormatLSN(lsn int64) string {
	return fmt.Sprintf("%X/%X", uint64(lsn)>>32, uint64(lsn)&0xFFFFFFFF)
}

// buildCluster renders a cached snapshot as Patroni's /cluster document.
func buildCluster(scope string, c *dcs.Cluster, standby bool) clusterDoc {
	doc := clusterDoc{Members: []clusterMember{}, Scope: scope}
	if c == nil {
		return doc
	}
	leader := ""
	if c.Leader != nil {
		leader = c.Leader.Name
	}
	var optime int64
	if c.Status != nil {
		optime = c.Status.Optime
	}
	for _, m := range c.Members {
		cm := clusterMember{Name: m.Name, APIURL: m.APIURL, Timeline: m.Timeline, Tags: m.Tags,
			PendingRestart: m.PendingRestart, PendingReason: rawOrNil(m.PendingReason), Scheduled: rawOrNil(m.ScheduledRestart)}
		cm.Role = c.ListRole(m.Name, standby)
		cm.State = m.State
		if cm.Role != "leader" && m.ReplicationState != "" {
			cm.State = m.ReplicationState
		}
		if h, p := m.Host(); h != "" {
			cm.Host, cm.Port = h, p
		}
		if m.Name != leader {
			cm.ReceiveLSN, cm.ReceiveLag = lsnAndLag(m.ReceiveLSN, optime)
			cm.ReplayLSN, cm.ReplayLag = lsnAndLag(m.ReplayLSN, optime)
			l := m.LSN()
			cm.LSN, cm.Lag = lsnAndLag(&l, optime)
		}
		doc.Members = append(doc.Members, cm)
	}
	doc.Pause = c.IsPaused()
	if f := c.Failover; f != nil && f.ScheduledAt != nil {
		doc.ScheduledSwitchover = &scheduledDoc{At: f.ScheduledAt.Format("2006-01-02T15:04:05.999999-07:00"), From: f.Leader, To: f.Member}
	}
	return doc
}

func lsnAndLag(lsn *int64, optime int64) (any, any) {
	if lsn == nil || *lsn == 0 {
		return "unknown", "unknown"
	}
	return FormatLSN(*lsn), max(0, optime-*lsn)
}

func rawOrNil(r []byte) any {
	if v := validRaw(r); v != nil {
		return v
	}
	return nil
}
