package agentconfig

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pgha/pgha/pg/pglocal"
)

// TestStandbyClusterConfig: bootstrap.dcs.standby_cluster seeds the config
// key (checked at load as the Controller parses it); the top-level key is
// named in a warning pointing at bootstrap.dcs.
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
`, nil, ""},
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
			cfg, ws, ok := parseChecked(t, minimal+tt.yaml, tt.err)
			if !ok {
				return
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

// TestStandbyClusterReplicaMethods: the postgresql.<name> sections that
// bootstrap.dcs.standby_cluster.create_replica_methods names are read and
// checked as those of postgresql.create_replica_methods (wherever the
// sections are in the document) and become pglocal's
// StandbyReplicaMethods, unless postgresql.create_replica_methods names
// them too; an undefined name is a load error.
func TestStandbyClusterReplicaMethods(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string // appended to minimal: indented lines continue its postgresql section
		replica  []string
		standby  []string
		warnings []string // paths
		err      string
	}{
		{"restore only for the standby leader", `
  restore: {command: /usr/local/bin/restore --from /backup, no_leader: true, keep_data: true}
bootstrap:
  dcs:
    standby_cluster: {restore_command: "cp /arch/%f %p", create_replica_methods: [restore, basebackup]}
`, nil, []string{"restore"}, nil, ""},
		{"section after bootstrap, old no_master spelling", `
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [restore]}
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/pgha/n1
  bin_dir: /usr/lib/postgresql/15/bin
  authentication:
    superuser: {username: postgres, password: a}
    replication: {username: replicator, password: b}
  restore: {command: /usr/local/bin/restore, no_master: true}
`, nil, []string{"restore"}, nil, ""},
		{"named by both lists: an ordinary method", `
  create_replica_methods: [restore, basebackup]
  restore: {command: /usr/local/bin/restore, no_leader: true}
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [restore]}
`, []string{"restore", "basebackup"}, nil, nil, ""},
		{"basebackup needs no section", `
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [basebackup]}
`, nil, nil, nil, ""},
		{"unnamed section is still unknown", `
  restore: {command: /usr/local/bin/restore}
bootstrap:
  dcs:
    standby_cluster: {host: h}
`, nil, nil, []string{"postgresql.restore"}, ""},
		{"typo in a method section", `
  restore: {command: /usr/local/bin/restore, no_leadr: true}
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [restore]}
`, nil, []string{"restore"}, []string{"postgresql.restore.no_leadr"}, ""},
		{"undefined method", `
bootstrap:
  dcs:
    standby_cluster: {restore_command: "cp /arch/%f %p", create_replica_methods: [basebackup, restore]}
`, nil, nil, nil, "bootstrap.dcs.standby_cluster.create_replica_methods[1]: method \"restore\" has no postgresql.restore section"},
		{"no command", `
  restore: {no_leader: true}
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [restore]}
`, nil, nil, nil, "postgresql.restore.command: required"},
		{"no_params refused", `
  restore: {command: /usr/local/bin/restore, no_params: true}
bootstrap:
  dcs:
    standby_cluster: {host: h, create_replica_methods: [restore]}
`, nil, nil, nil, "not supported: pgha always passes"},
	}
	names := func(ms []pglocal.ReplicaMethod) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := minimal + tt.yaml
			if strings.HasPrefix(tt.yaml, "\nbootstrap:\n  dcs:\n    standby_cluster: {host: h, create_replica_methods: [restore]}\npostgresql:") {
				doc = minimal[:strings.Index(minimal, "postgresql:")] + tt.yaml
			}
			cfg, ws, ok := parseChecked(t, doc, tt.err)
			if !ok {
				return
			}
			var paths []string
			for _, w := range ws {
				paths = append(paths, w.Path)
			}
			if !slices.Equal(paths, tt.warnings) {
				t.Errorf("warnings %v, want on %v", ws, tt.warnings)
			}
			lc, err := cfg.PGLocalConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(lc.ReplicaMethods), tt.replica) || !slices.Equal(names(lc.StandbyReplicaMethods), tt.standby) {
				t.Fatalf("replica methods %+v, standby methods %+v; want %v and %v", lc.ReplicaMethods, lc.StandbyReplicaMethods, tt.replica, tt.standby)
			}
			if len(lc.StandbyReplicaMethods) > 0 {
				if m := lc.StandbyReplicaMethods[0]; len(m.Command) == 0 || m.Command[0] != "/usr/local/bin/restore" || m.NoLeader != !strings.Contains(tt.name, "typo") {
					t.Errorf("standby method %+v", m)
				}
			}
			if _, err := pglocal.New(lc); err != nil {
				t.Errorf("pglocal refuses the converted config: %v", err)
			}
		})
	}
}

// parseChecked parses and validates doc. With wantErr set it requires an
// ErrInvalid error mentioning wantErr and returns ok false; otherwise any
// error fails the test.
func parseChecked(t *testing.T, doc, wantErr string) (cfg *Config, ws []Warning, ok bool) {
	t.Helper()
	cfg, ws, err := Parse([]byte(doc), nil)
	if err == nil {
		err = cfg.Validate()
	}
	if wantErr != "" {
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err %v, want ErrInvalid with %q", err, wantErr)
		}
		return nil, nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, ws, true
}
