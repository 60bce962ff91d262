package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AgentIdle is one agent's resource use over the idle period: CPU seconds
// (utime+stime of the agent process, not PostgreSQL) and resident memory.
type AgentIdle struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSMB is VmRSS at the end, MaxRSSMB the largest sample (every second).
	RSSMB    float64 `json:"rss_mb"`
	MaxRSSMB float64 `json:"max_rss_mb"`
}

// Idle is the idle measurement of all agents.
type Idle struct {
	Seconds float64     `json:"seconds"`
	Agents  []AgentIdle `json:"agents"`
	RSS     Summary     `json:"rss_mb"`
	CPU     Summary     `json:"cpu_seconds"`
	// Etcd is the whole cluster's request rate to etcd (all agents, all
	// members) over the same period.
	Etcd EtcdRate `json:"etcd_requests"`
}

// measureIdle samples every running agent for d with no writer and no
// fault: what an agent costs while nothing happens (HAProxy's health
// checks still hit the API, as in production), and counts the requests
// the etcd members receive meanwhile (etcdRequests).
func measureIdle(ctx context.Context, b *bench, d time.Duration) (Idle, error) {
	if _, err := b.waitHealthy(ctx); err != nil {
		return Idle{}, err
	}
	type probe struct {
		name     string
		pid      int
		cpu0     float64
		rss, max int64
	}
	var probes []*probe
	for _, n := range b.c.Nodes() {
		pid := n.AgentPID()
		if pid == 0 {
			continue
		}
		cpu, err := cpuSeconds(pid)
		if err != nil {
			return Idle{}, err
		}
		probes = append(probes, &probe{name: n.Name(), pid: pid, cpu0: cpu})
	}
	if len(probes) == 0 {
		return Idle{}, fmt.Errorf("no agent runs")
	}
	sample := func() error {
		for _, p := range probes {
			rss, err := rssBytes(p.pid)
			if err != nil {
				return fmt.Errorf("agent %s: %w", p.name, err)
			}
			p.rss, p.max = rss, max(p.max, rss)
		}
		return nil
	}
	reqs0, err := etcdRequests(prometheus.DefaultGatherer)
	if err != nil {
		return Idle{}, err
	}
	start := time.Now()
	end := start.Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := sample(); err != nil {
			return Idle{}, err
		}
		if !time.Now().Before(end) {
			break
		}
		select {
		case <-ctx.Done():
			return Idle{}, ctx.Err()
		case <-tick.C:
		case <-time.After(time.Until(end)):
		}
	}
	reqs1, err := etcdRequests(prometheus.DefaultGatherer)
	if err != nil {
		return Idle{}, err
	}
	elapsed := time.Since(start)
	out := Idle{Seconds: elapsed.Seconds(), Etcd: etcdRate(reqs0, reqs1, elapsed.Seconds())}
	var rss, cpu []float64
	for _, p := range probes {
		c, err := cpuSeconds(p.pid)
		if err != nil {
			return Idle{}, fmt.Errorf("agent %s: %w", p.name, err)
		}
		a := AgentIdle{
			Name: p.name, PID: p.pid, CPUSeconds: c - p.cpu0,
			RSSMB: float64(p.rss) / (1 << 20), MaxRSSMB: float64(p.max) / (1 << 20),
		}
		out.Agents = append(out.Agents, a)
		rss, cpu = append(rss, a.MaxRSSMB), append(cpu, a.CPUSeconds)
	}
	out.RSS, out.CPU = summarize(rss), summarize(cpu)
	return out, nil
}
