package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// num is a float that is null in JSON (and "-" in tables) when NaN.
type num float64

// MarshalJSON writes null for NaN, which encoding/json refuses.
func (n num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(float64(n), 'f', 3, 64)), nil
}

// Settings are the cluster settings the figures were taken with.
type Settings struct {
	Repetitions int     `json:"repetitions"`
	Nodes       int     `json:"nodes"`
	EtcdMembers int     `json:"etcd_members"`
	TTL         float64 `json:"ttl_s"`
	LoopWait    float64 `json:"loop_wait_s"`
	IdleSeconds float64 `json:"idle_s"`
	// WriterTimeout bounds each connect and insert of the writer: an
	// attempt routed to a dead server costs up to this much.
	WriterTimeout float64 `json:"writer_timeout_s"`
	// EtcdHeartbeatMS and EtcdElectionMS are the embedded etcd members'
	// raft timings.
	EtcdHeartbeatMS int64 `json:"etcd_heartbeat_ms"`
	EtcdElectionMS  int64 `json:"etcd_election_ms"`
}

// ScenarioResult is every repetition of one scenario and their summary.
type ScenarioResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Reps        []Rep  `json:"repetitions"`
	// Summaries of the completed repetitions.
	Unavailable   jsonSummary `json:"write_unavailable_s"`
	NewLeader     jsonSummary `json:"new_leader_s"`
	ExpiryToWrite jsonSummary `json:"lease_expiry_to_first_write_s"`
	Lost          jsonSummary `json:"acked_writes_lost"`
	// Only the etcd fault scenarios measure these (N is 0 otherwise).
	DirectUnavailable jsonSummary `json:"direct_write_unavailable_s"`
	DemotionCount     jsonSummary `json:"demotions_per_run"`
	TwoWriters        jsonSummary `json:"two_writer_moments"`
	// Only the agent fault scenarios measure this.
	OldStopped jsonSummary `json:"old_primary_stopped_s"`
	// Only the quorum loss scenarios measure these.
	QuorumToProxyWrite  jsonSummary `json:"quorum_to_first_write_proxy_s"`
	QuorumToDirectWrite jsonSummary `json:"quorum_to_first_write_direct_s"`
	PromotionCount      jsonSummary `json:"promotions_per_run"`
	// Only node-crash and switchover measure these.
	LeaderToWrite jsonSummary `json:"new_leader_to_first_write_s"`
	OffLeader     jsonSummary `json:"writes_off_dcs_leader"`
	// Runs with a leader change (a false failover in a scenario that
	// needs none), a demotion, a promotion, a new timeline, an error.
	LeaderChanges   int `json:"leader_changes"`
	Demotions       int `json:"demotions"`
	Promotions      int `json:"promotions"`
	TimelineChanges int `json:"timeline_changes"`
	Errors          int `json:"errors"`
}

// jsonSummary is a Summary whose NaN fields encode as null.
type jsonSummary struct {
	N      int `json:"n"`
	Median num `json:"median"`
	Min    num `json:"min"`
	Max    num `json:"max"`
}

func toJSON(s Summary) jsonSummary {
	return jsonSummary{N: s.N, Median: num(s.Median), Min: num(s.Min), Max: num(s.Max)}
}

// Result is the whole benchmark output.
type Result struct {
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Idle      *Idle            `json:"idle,omitempty"`
}

// summarizeScenario fills the summaries from the repetitions; failed
// repetitions count in Errors and not in the figures.
func summarizeScenario(sr *ScenarioResult) {
	var unav, leader, expiry, lost, direct, demotions, two, stopped, qProxy, qDirect, promotions, toWrite, offLeader []float64
	sr.LeaderChanges, sr.Demotions, sr.Promotions, sr.TimelineChanges, sr.Errors = 0, 0, 0, 0, 0
	for _, r := range sr.Reps {
		if r.Error != "" {
			sr.Errors++
			continue
		}
		unav = append(unav, float64(r.Unavailable))
		leader = append(leader, float64(r.NewLeader))
		expiry = append(expiry, float64(r.ExpiryToWrite))
		lost = append(lost, float64(r.Lost))
		direct = append(direct, float64(r.DirectUnavailable))
		demotions = append(demotions, float64(r.Demotions))
		two = append(two, float64(r.TwoWriters))
		stopped = append(stopped, float64(r.OldStopped))
		qProxy = append(qProxy, float64(r.QuorumToProxyWrite))
		qDirect = append(qDirect, float64(r.QuorumToDirectWrite))
		promotions = append(promotions, float64(r.Promotions))
		toWrite = append(toWrite, float64(r.LeaderToWrite))
		offLeader = append(offLeader, float64(r.OffLeader))
		if r.Promotions > 0 {
			sr.Promotions++
		}
		if r.LeaderChanged {
			sr.LeaderChanges++
		}
		if r.Demoted {
			sr.Demotions++
		}
		if r.TimelineChanged {
			sr.TimelineChanges++
		}
	}
	sr.Unavailable = toJSON(summarize(unav))
	sr.NewLeader = toJSON(summarize(leader))
	sr.ExpiryToWrite = toJSON(summarize(expiry))
	sr.Lost = toJSON(summarize(lost))
	sr.DirectUnavailable = toJSON(summarize(direct))
	sr.DemotionCount = toJSON(summarize(demotions))
	sr.TwoWriters = toJSON(summarize(two))
	sr.OldStopped = toJSON(summarize(stopped))
	sr.QuorumToProxyWrite = toJSON(summarize(qProxy))
	sr.QuorumToDirectWrite = toJSON(summarize(qDirect))
	sr.PromotionCount = toJSON(summarize(promotions))
	sr.LeaderToWrite = toJSON(summarize(toWrite))
	sr.OffLeader = toJSON(summarize(offLeader))
}

// writeJSON writes r as indented JSON.
func writeJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeText writes r as a plain text table.
func writeText(w io.Writer, r Result) error {
	m := r.Machine
	fmt.Fprintf(w, "pgha failover benchmark: %d repetitions, %d agents, %d etcd members (raft heartbeat %d ms, election timeout %d ms), ttl %gs, loop_wait %gs, writer timeout %gs\n",
		r.Settings.Repetitions, r.Settings.Nodes, r.Settings.EtcdMembers, r.Settings.EtcdHeartbeatMS, r.Settings.EtcdElectionMS,
		r.Settings.TTL, r.Settings.LoopWait, r.Settings.WriterTimeout)
	fmt.Fprintf(w, "machine: %d CPUs (%s), %.1f GiB RAM, Linux %s, %s\n\n", m.CPUs, orDash(m.CPUModel), m.MemoryGB, orDash(m.Kernel), m.Go)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tmetric\t%8s\t%8s\t%8s\t%3s\n", "median", "min", "max", "n")
	row := func(name, metric string, s jsonSummary, digits int) {
		fmt.Fprintf(tw, "%s\t%s\t%8s\t%8s\t%8s\t%3d\n", name, metric,
			fmtNum(s.Median, digits), fmtNum(s.Min, digits), fmtNum(s.Max, digits), s.N)
	}
	for _, sr := range r.Scenarios {
		if sr.quorumLoss() {
			// The gaps are measured from the kill until 2 ttl after the
			// quorum returned.
			row(sr.Name, "write gap via HAProxy, outage + 2 ttl (s)", sr.Unavailable, 3)
			row("", "write gap direct, outage + 2 ttl (s)", sr.DirectUnavailable, 3)
			row("", "quorum back -> first write via HAProxy (s)", sr.QuorumToProxyWrite, 3)
			row("", "quorum back -> first write direct (s)", sr.QuorumToDirectWrite, 3)
			row("", "kill -> another leader in DCS (s)", sr.NewLeader, 3)
			row("", "acknowledged writes lost", sr.Lost, 0)
			row("", "two-writer moments per run", sr.TwoWriters, 1)
			row("", "demotions per run", sr.DemotionCount, 1)
			row("", "promotions per run", sr.PromotionCount, 1)
			fmt.Fprintf(tw, "\truns with leader key change / demotion / promotion / new timeline / error\t%8s\t\t\t%3d\n",
				fmt.Sprintf("%d/%d/%d/%d/%d", sr.LeaderChanges, sr.Demotions, sr.Promotions, sr.TimelineChanges, sr.Errors), len(sr.Reps))
			continue
		}
		if sr.agentFault() {
			row(sr.Name, "write unavailability via HAProxy (s)", sr.Unavailable, 3)
			row("", "write unavailability direct (s)", sr.DirectUnavailable, 3)
			row("", "old primary stopped (s)", sr.OldStopped, 3)
			row("", "new leader in DCS (s)", sr.NewLeader, 3)
			row("", "acknowledged writes lost", sr.Lost, 0)
			row("", "two-writer moments per run", sr.TwoWriters, 1)
			fmt.Fprintf(tw, "\truns with failover / error\t%8s\t\t\t%3d\n",
				fmt.Sprintf("%d/%d", sr.LeaderChanges, sr.Errors), len(sr.Reps))
			continue
		}
		recorded := sr.DirectUnavailable.N > 0 // an etcd fault scenario
		if recorded {
			row(sr.Name, "write unavailability via HAProxy (s)", sr.Unavailable, 3)
			row("", "write unavailability direct (s)", sr.DirectUnavailable, 3)
		} else {
			row(sr.Name, "write unavailability (s)", sr.Unavailable, 3)
		}
		row("", "new leader in DCS (s)", sr.NewLeader, 3)
		if sr.ExpiryToWrite.N > 0 {
			row("", "lease expiry -> first write (s)", sr.ExpiryToWrite, 3)
		}
		if sr.LeaderToWrite.N > 0 {
			row("", "new leader in DCS -> first write (s)", sr.LeaderToWrite, 3)
		}
		row("", "acknowledged writes lost", sr.Lost, 0)
		if sr.OffLeader.N > 0 {
			row("", "writes acknowledged off the DCS leader", sr.OffLeader, 0)
		}
		if recorded {
			row("", "demotions per run", sr.DemotionCount, 1)
			row("", "two-writer moments per run", sr.TwoWriters, 1)
			fmt.Fprintf(tw, "\truns with false failover / demotion / new timeline / error\t%8s\t\t\t%3d\n",
				fmt.Sprintf("%d/%d/%d/%d", sr.LeaderChanges, sr.Demotions, sr.TimelineChanges, sr.Errors), len(sr.Reps))
			continue
		}
		fmt.Fprintf(tw, "\truns with leader change / demotion / error\t%8s\t\t\t%3d\n",
			fmt.Sprintf("%d/%d/%d", sr.LeaderChanges, sr.Demotions, sr.Errors), len(sr.Reps))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeGuideTable(w, r); err != nil {
		return err
	}
	for _, sr := range r.Scenarios {
		for i, rep := range sr.Reps {
			if rep.Error != "" {
				fmt.Fprintf(w, "%s #%d failed: %s\n", sr.Name, i+1, rep.Error)
			}
		}
	}
	for _, sr := range r.Scenarios {
		for i, rep := range sr.Reps {
			if (sr.agentFault() || sr.quorumLoss()) && rep.Error == "" {
				fmt.Fprintf(w, "%s #%d: %s\n", sr.Name, i+1, repLine(rep))
				continue
			}
			if rep.Error == "" && (rep.LeaderChanged || rep.Demoted || rep.TimelineChanged || rep.TwoWriters > 0) && sr.DirectUnavailable.N > 0 {
				fmt.Fprintf(w, "%s #%d: %s\n", sr.Name, i+1, repLine(rep))
			}
		}
	}
	if r.Idle != nil {
		fmt.Fprintf(w, "\nagents over %.0f s idle (agent process only, PostgreSQL excluded):\n", r.Idle.Seconds)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		// Right-aligned: every column but the first is a number.
		fmt.Fprintln(tw, "agent\tpid\tCPU s\tCPU %\tRSS MB (end)\tRSS MB (max)\t")
		for _, a := range r.Idle.Agents {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t\n", a.Name, a.PID, a.CPUSeconds,
				100*a.CPUSeconds/r.Idle.Seconds, a.RSSMB, a.MaxRSSMB)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "median (min-max) over agents: CPU %.2f s (%.2f-%.2f), RSS %.1f MB (%.1f-%.1f)\n",
			r.Idle.CPU.Median, r.Idle.CPU.Min, r.Idle.CPU.Max, r.Idle.RSS.Median, r.Idle.RSS.Min, r.Idle.RSS.Max)
		fmt.Fprintf(w, "etcd requests of the idle cluster: %s\n", r.Idle.Etcd)
	}
	return nil
}

// fmtNum formats a figure with digits decimals, "-" when not applicable.
func fmtNum(v num, digits int) string {
	if math.IsNaN(float64(v)) {
		return "-"
	}
	return strconv.FormatFloat(float64(v), 'f', digits, 64)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// agentFault reports whether sr is an agent fault scenario (agentScenarios),
// even when no repetition measured the old primary's stop.
func (sr ScenarioResult) agentFault() bool { return strings.HasPrefix(sr.Name, "agent-") }

// repLine summarizes one repetition for the progress output.
func repLine(rep Rep) string {
	if rep.quorumLoss {
		return fmt.Sprintf("write gap %s s via HAProxy, %s s direct; quorum back -> first write %s s via HAProxy, %s s direct; leader %s, failover to %s, leader key changed %v, demotions %s, promotions %s, new timeline %v, two-writer moments %s, lost %d of %d; %s",
			fmtNum(rep.Unavailable, 3), fmtNum(rep.DirectUnavailable, 3), fmtNum(rep.QuorumToProxyWrite, 3), fmtNum(rep.QuorumToDirectWrite, 3),
			rep.Leader, orDash(rep.NewLeaderName), rep.LeaderChanged, fmtNum(rep.Demotions, 0), fmtNum(rep.Promotions, 0),
			rep.TimelineChanged, fmtNum(rep.TwoWriters, 0), rep.Lost, rep.Acked, rep.Detail)
	}
	if !math.IsNaN(float64(rep.OldStopped)) {
		return fmt.Sprintf("old primary stopped %s s, new leader %s s (%s -> %s); unavailable %s s via HAProxy, %s s direct; two-writer moments %s, lost %d of %d; %s",
			fmtNum(rep.OldStopped, 3), fmtNum(rep.NewLeader, 3), rep.Leader, orDash(rep.NewLeaderName),
			fmtNum(rep.Unavailable, 3), fmtNum(rep.DirectUnavailable, 3), fmtNum(rep.TwoWriters, 0), rep.Lost, rep.Acked, rep.Detail)
	}
	line := fmt.Sprintf("unavailable %s s, new leader %s s (%s -> %s), lost %d of %d",
		fmtNum(rep.Unavailable, 3), fmtNum(rep.NewLeader, 3), rep.Leader, orDash(rep.NewLeaderName), rep.Lost, rep.Acked)
	if math.IsNaN(float64(rep.DirectUnavailable)) {
		return line
	}
	return fmt.Sprintf("unavailable %s s via HAProxy, %s s direct; false failover %v (%s -> %s), demotions %s, new timeline %v, two-writer moments %s, lost %d of %d; %s",
		fmtNum(rep.Unavailable, 3), fmtNum(rep.DirectUnavailable, 3), rep.LeaderChanged, rep.Leader, orDash(rep.NewLeaderName),
		fmtNum(rep.Demotions, 0), rep.TimelineChanged, fmtNum(rep.TwoWriters, 0), rep.Lost, rep.Acked, rep.Detail)
}

// writeGuideTable puts the guides' scenarios side by side: checks only and
// with runtime-API routing (nothing when none of them ran).
func writeGuideTable(w io.Writer, r Result) error {
	byName := map[string]ScenarioResult{}
	for _, sr := range r.Scenarios {
		byName[sr.Name] = sr
	}
	ran := false
	for _, base := range []string{"node-crash", "switchover"} {
		for _, v := range []string{"checks", "routed"} {
			if _, ok := byName[base+"-guides-"+v]; ok {
				ran = true
			}
		}
	}
	if !ran {
		return nil
	}
	fmt.Fprintf(w, "\nthrough HAProxy with the guides' checks (inter 3s fall 3 rise 2), median (min-max):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\tchecks only\twith runtime-API routing\t")
	cell := func(name string, pick func(ScenarioResult) jsonSummary, digits int) string {
		sr, ok := byName[name]
		if !ok || pick(sr).N == 0 {
			return "-"
		}
		s := pick(sr)
		return fmt.Sprintf("%s (%s-%s) n=%d", fmtNum(s.Median, digits), fmtNum(s.Min, digits), fmtNum(s.Max, digits), s.N)
	}
	metrics := []struct {
		name   string
		pick   func(ScenarioResult) jsonSummary
		digits int
	}{
		{"write unavailability (s)", func(s ScenarioResult) jsonSummary { return s.Unavailable }, 3},
		{"new leader in DCS -> first write (s)", func(s ScenarioResult) jsonSummary { return s.LeaderToWrite }, 3},
		{"acknowledged writes lost", func(s ScenarioResult) jsonSummary { return s.Lost }, 0},
		{"writes off the DCS leader", func(s ScenarioResult) jsonSummary { return s.OffLeader }, 0},
	}
	for _, base := range []string{"node-crash", "switchover"} {
		for i, m := range metrics {
			name := ""
			if i == 0 {
				name = base
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, m.name,
				cell(base+"-guides-checks", m.pick, m.digits), cell(base+"-guides-routed", m.pick, m.digits))
		}
	}
	return tw.Flush()
}
