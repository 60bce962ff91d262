package pglocal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestReplicaMethodsResolve: CloneRequest.Methods picks methods by name
// among ReplicaMethods, StandbyReplicaMethods and the built-in
// basebackup, in the request's order; an undefined name is refused.
func TestReplicaMethodsResolve(t *testing.T) {
	c := Config{
		ReplicaMethods:        []ReplicaMethod{{Name: "pgbackrest", Command: []string{"pgbackrest"}}, {Name: BaseBackup}},
		StandbyReplicaMethods: []ReplicaMethod{{Name: "restore", Command: []string{"restore"}, NoLeader: true}},
	}
	for _, tc := range []struct {
		name    string
		methods []string
		want    []string
		wantErr string
	}{
		{"configured order", nil, []string{"pgbackrest", BaseBackup}, ""},
		{"request order", []string{"restore", BaseBackup, "pgbackrest"}, []string{"restore", BaseBackup, "pgbackrest"}, ""},
		{"standby method alone", []string{"restore"}, []string{"restore"}, ""},
		{"built-in basebackup without an entry", []string{BaseBackup}, []string{BaseBackup}, ""},
		{"undefined name", []string{"restore", "wal_e"}, nil, `"wal_e" is not defined`},
		{"empty name", []string{""}, nil, `"" is not defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.replicaMethods(tc.methods)
			if tc.wantErr != "" {
				if !errors.Is(err, pg.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want ErrInvalidConfig with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("methods %v, want %v", names, tc.want)
			}
			if i := slices.Index(names, "restore"); i >= 0 && !got[i].NoLeader {
				t.Errorf("restore lost its definition: %+v", got[i])
			}
		})
	}
}

func TestStandbyReplicaMethodsValidation(t *testing.T) {
	base := func() Config {
		return Config{Name: "n", BinDir: "/bin", DataDir: "/data/pg", Superuser: Credentials{Password: "x"},
			Replication: Credentials{Password: "y"}}
	}
	cmd := []string{"/bin/true"}
	for _, tc := range []struct {
		name, want string
		mut        func(*Config)
	}{
		{"no command", "StandbyReplicaMethods[0].Command", func(c *Config) { c.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore"}} }},
		{"no name", "StandbyReplicaMethods[0].Name", func(c *Config) { c.StandbyReplicaMethods = []ReplicaMethod{{Command: cmd}} }},
		{"basebackup", "basebackup is built in", func(c *Config) { c.StandbyReplicaMethods = []ReplicaMethod{{Name: BaseBackup}} }},
		{"also a replica method", "also in ReplicaMethods", func(c *Config) {
			c.ReplicaMethods = []ReplicaMethod{{Name: "restore", Command: cmd}}
			c.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore", Command: cmd}}
		}},
		{"twice", "defined twice", func(c *Config) {
			c.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore", Command: cmd}, {Name: "restore", Command: cmd}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mut(&c)
			if err := c.withDefaults().validate(); !errors.Is(err, pg.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want ErrInvalidConfig with %q", err, tc.want)
			}
		})
	}
	c := base()
	c.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore", Command: cmd, NoLeader: true}}
	if err := c.withDefaults().validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestCloneMethodsRefusedBeforeChange: an undefined method name, and no
// upstream with no no_leader method, are refused with the data directory
// untouched even with Replace.
func TestCloneMethodsRefusedBeforeChange(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	cfg := testConfig(t, "dst")
	cfg.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore", Command: []string{"/bin/false"}}}
	r := newLocal(t, cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(cfg.DataDir, "keep")
	if err := os.WriteFile(keep, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	up := pg.Upstream{Host: "127.0.0.1", Port: 1}
	for _, tc := range []struct {
		name string
		req  pg.CloneRequest
		want string
	}{
		{"undefined method", pg.CloneRequest{Upstream: up, Replace: true, Methods: []string{BaseBackup, "nope"}}, `"nope" is not defined`},
		{"no upstream, no no_leader method", pg.CloneRequest{Replace: true, Methods: []string{"restore", BaseBackup}}, "none of the methods restore, basebackup runs without a leader"},
		{"no upstream, configured order", pg.CloneRequest{Replace: true}, "none of the methods basebackup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Clone(ctx, tc.req)
			if !errors.Is(err, pg.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalidConfig with %q", err, tc.want)
			}
			if _, err := os.Stat(keep); err != nil {
				t.Errorf("the data directory was changed: %v", err)
			}
		})
	}
}

// TestCloneMethodsRequestOrder: CloneRequest.Methods overrides the
// configured order and reaches a standby-only method; without an upstream
// a method that needs one is skipped while no_leader methods run (a
// failing one first, then a restore from a stopped copy standing in for a
// backup). The restored replica then streams from the primary.
func TestCloneMethodsRequestOrder(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	p := bootstrapPrimary(t, "src")
	mustExec(t, p, "CREATE TABLE t AS SELECT 1 AS id")
	backup := newLocal(t, testConfig(t, "backup"))
	if err := backup.Clone(ctx, pg.CloneRequest{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}

	scratch := testutil.TempDirFor(t, "postgres")
	order := filepath.Join(scratch, "order")
	cfg := testConfig(t, "dst")
	cfg.ReplicaMethods = []ReplicaMethod{
		{Name: "marker", Command: []string{"/bin/sh", "-c", `echo marker >> ` + order + `; exit 1`, "sh"}, NoLeader: true},
		{Name: BaseBackup},
	}
	cfg.StandbyReplicaMethods = []ReplicaMethod{{Name: "restore", NoLeader: true, Command: []string{"/bin/sh", "-c",
		`echo "restore $*" >> ` + order + `; cp -a ` + backup.cfg.DataDir + `/. "${2#--datadir=}"`, "sh"}}}
	r := newLocal(t, cfg)
	if err := r.Clone(ctx, pg.CloneRequest{Methods: []string{"marker", BaseBackup, "restore"}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || lines[0] != "marker" || !strings.HasPrefix(lines[1], "restore --scope=test --datadir="+cfg.DataDir+" --role=replica --connstring=") {
		t.Errorf("methods ran as %q, want marker, then restore with an empty connstring", lines)
	}
	if err := r.Follow(ctx, pg.FollowConfig{Upstream: p.Upstream()}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, p, "INSERT INTO t VALUES (2)")
	waitCount(t, r, "SELECT count(*) FROM t", 2)
}
