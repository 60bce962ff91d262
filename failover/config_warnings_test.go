package failover

import (
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// TestConfigWarnings: every key of the config key that pgha does not act
// on as written is named, and keys it acts on are not.
func TestConfigWarnings(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string // substrings, one warning each
	}{
		{"supported keys only", `{"ttl":30,"loop_wait":10,"postgresql":{"parameters":{"work_mem":"8MB","max_connections":200,"jit":false},"pg_hba":["local all all trust"],"pg_ident":["m a b"]}}`, nil},
		{"unknown top-level keys", `{"ttl":30,"loop_wait":10,"bogus":{"host":"x"},"slots":{"s":{"type":"physical"}}}`,
			[]string{"bogus: not supported"}},
		{"standby cluster", `{"ttl":30,"loop_wait":10,"standby_cluster":{"host":"x","port":5433}}`, nil},
		{"standby cluster without sync mode", `{"ttl":30,"loop_wait":10,"synchronous_mode":"on","standby_cluster":{"host":"x","create_replica_methods":["basebackup"]}}`,
			[]string{"synchronous_mode"}},
		{"standby cluster invalid", `{"ttl":30,"loop_wait":10,"standby_cluster":{"hots":"x"}}`,
			[]string{"standby_cluster.hots: unknown key", "not a standby cluster"}},
		{"unknown postgresql keys", `{"ttl":30,"loop_wait":10,"postgresql":{"recovery_conf":{"restore_command":"x"},"use_slots":false}}`,
			[]string{"postgresql.recovery_conf: not supported"}},
		{"slot keys", `{"ttl":30,"loop_wait":10,"slots":{"ok":{"type":"physical"},"Bad-Name":{},"l":{"type":"logical"},"x":{"type":"other"}},` +
			`"ignore_slots":[{}],"member_slots_ttl":"soon"}`,
			[]string{"slots.Bad-Name", "slots.l: a logical slot needs", "slots.x: type", "ignore_slots: an empty rule", "member_slots_ttl"}},
		{"slot keys fine", `{"ttl":30,"loop_wait":10,"slots":{"ok":{"type":"physical"},"l":{"type":"logical","database":"d","plugin":"pgoutput"}},` +
			`"ignore_slots":[{"name":"keep"}],"member_slots_ttl":"30min"}`, nil},
		{"parameter and line types", `{"ttl":30,"loop_wait":10,"postgresql":{"parameters":{"work_mem":["a"]},"pg_hba":"local all all trust"}}`,
			[]string{"postgresql.parameters.work_mem", "postgresql.pg_hba: must be a list"}},
		{"not implemented", `{"ttl":30,"loop_wait":10,"primary_stop_timeout":5,"retry_timeout":10}`,
			[]string{"retry_timeout", "primary_stop_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dcs.DecodeConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			got := ConfigWarnings(c)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no warning with %q in %q", w, got)
				}
			}
		})
	}
}

// TestHotStandbyFeedbackEnforced: permanent logical slots turn
// hot_standby_feedback on (the replicas' copies need it), with a warning
// when the config key asked for off; nothing else does.
func TestHotStandbyFeedbackEnforced(t *testing.T) {
	const logical = `"slots":{"cdc":{"type":"logical","database":"app","plugin":"pgoutput"}}`
	tests := []struct {
		name, json string
		want       string // hot_standby_feedback applied; "" for not set
		warn       bool
	}{
		{"no slots", `{"ttl":30}`, "", false},
		{"physical only", `{"slots":{"p":{"type":"physical"}}}`, "", false},
		{"logical", `{` + logical + `}`, "on", false},
		{"logical, asked off", `{` + logical + `,"postgresql":{"parameters":{"hot_standby_feedback":"off"}}}`, "on", true},
		{"logical, asked on", `{` + logical + `,"postgresql":{"parameters":{"hot_standby_feedback":true}}}`, "on", false},
		{"logical without use_slots", `{` + logical + `,"postgresql":{"use_slots":false,"parameters":{"hot_standby_feedback":"off"}}}`, "off", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := dcs.DecodeConfig([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			out, warn := clusterPGConfig(cfg)
			if got := out.Parameters["hot_standby_feedback"]; got != tc.want {
				t.Errorf("hot_standby_feedback = %q, want %q", got, tc.want)
			}
			warned := strings.Contains(strings.Join(warn, "\n"), "hot_standby_feedback")
			if warned != tc.warn {
				t.Errorf("warnings %q: a hot_standby_feedback warning %v, want %v", warn, warned, tc.warn)
			}
		})
	}
}
