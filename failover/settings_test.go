package failover

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		field string
		mod   func(*Settings)
	}{
		{"ttl", func(s *Settings) { s.TTL = 0 }},
		{"loop_wait", func(s *Settings) { s.LoopWait = -time.Second }},
		{"loop_wait", func(s *Settings) { s.LoopWait = s.TTL }},
		{"primary_start_timeout", func(s *Settings) { s.PrimaryStartTimeout = -1 }},
		{"maximum_lag_on_failover", func(s *Settings) { s.MaximumLagOnFailover = -1 }},
		{"synchronous_mode", func(s *Settings) { s.SynchronousMode = "maybe" }},
		{"race_postpone_max", func(s *Settings) { s.RacePostponeMax = -1 }},
		{"streaming_freshness", func(s *Settings) { s.StreamingFreshness = 0 }},
		{"max_position_age", func(s *Settings) { s.MaxPositionAge = 0 }},
		{"demote_lead", func(s *Settings) { s.DemoteLead = s.TTL }},
		{"peer_query_timeout", func(s *Settings) { s.PeerQueryTimeout = s.TTL }},
	}
	for _, tt := range tests {
		s := DefaultSettings()
		tt.mod(&s)
		err := s.Validate()
		if !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
}

func TestSettingsWithConfig(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cfg := &dcs.ClusterConfig{TTL: f(12), LoopWait: f(2), PrimaryStartTimeout: f(0), MaximumLagOnFailover: i64(42),
		SynchronousMode: sptr(SyncQuorum), CheckTimeline: bptr(true), Postgresql: &dcs.PostgresqlConfig{UsePgRewind: bptr(true)}}
	s := DefaultSettings().WithConfig(cfg)
	if s.TTL != 12*time.Second || s.LoopWait != 2*time.Second || s.PrimaryStartTimeout != 0 || s.MaximumLagOnFailover != 42 ||
		s.SynchronousMode != SyncQuorum || !s.CheckTimeline || !s.UsePgRewind {
		t.Fatalf("not applied: %+v", s)
	}
	if got := DefaultSettings().WithConfig(nil); got != DefaultSettings() {
		t.Fatalf("nil config changed settings: %+v", got)
	}
}
