package agentconfig

import (
	"errors"
	"strings"
	"testing"
)

// TestStandbyClusterConfig: bootstrap.dcs.standby_cluster seeds the config
// key (checked at load as the Controller parses it); the top-level key is
// named in a warning pointing at bootstrap.dcs, and so is the
// unimplemented create_replica_methods.
func TestStandbyClusterConfig(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		warnings map[string]string // path to a substring of its message
		err      string
	}{
		{"seeds the config key", `
bootstrap:
  dcs:
    standby_cluster: {host: 10.0.0.1, port: 5433, primary_slot_name: standby_b, restore_command: "cp /arch/%f %p"}
`, nil, ""},
		{"create_replica_methods named", `
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [basebackup]}
`, map[string]string{"bootstrap.dcs.standby_cluster": "create_replica_methods: not implemented"}, ""},
		{"top level points at bootstrap.dcs", `
standby_cluster: {host: h}
`, map[string]string{"standby_cluster": "bootstrap.dcs"}, ""},
		{"bad port", `
bootstrap:
  dcs:
    standby_cluster: {host: h, port: 99999}
`, nil, "bootstrap.dcs.standby_cluster"},
		{"unknown key", `
bootstrap:
  dcs:
    standby_cluster: {hots: h}
`, nil, "hots: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ws, err := Parse([]byte(minimal+tt.yaml), nil)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want ErrInvalid with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != len(tt.warnings) {
				t.Fatalf("warnings %v, want %v", ws, tt.warnings)
			}
			for _, w := range ws {
				if sub, ok := tt.warnings[w.Path]; !ok || !strings.Contains(w.Msg, sub) {
					t.Errorf("warning %s: %s, want one with %q", w.Path, w.Msg, sub)
				}
			}
			if sc, _ := cfg.standbyCluster(); tt.warnings == nil && (sc == nil || !sc.Active()) {
				t.Errorf("bootstrap.dcs.standby_cluster parsed as %+v", sc)
			}
			if enc := string(cfg.ClusterConfig().Encode()); strings.Contains(tt.yaml, "  dcs:") && !strings.Contains(enc, `"standby_cluster":{`) {
				t.Errorf("config key %s lacks standby_cluster", enc)
			}
		})
	}
}
