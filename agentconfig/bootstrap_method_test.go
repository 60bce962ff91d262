package agentconfig

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgha/pgha/pg"
)

// bootstrap.method names a section of bootstrap holding a custom method;
// its keys, post_bootstrap (or post_init) and the errors for a method
// that cannot run.
func TestBootstrapMethod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		section  string
		want     pg.BootstrapOptions
		warnings []string
		errPath  string
		errText  string
	}{
		{
			name: "initdb by default",
			section: `bootstrap:
  initdb: [data-checksums]
  post_bootstrap: /usr/local/bin/setup 'a b'
`,
			want: pg.BootstrapOptions{DataChecksums: true, PostBootstrap: []string{"/usr/local/bin/setup", "a b"}},
		},
		{
			name:    "method initdb",
			section: "bootstrap:\n  method: initdb\n  post_init: /bin/setup\n",
			want:    pg.BootstrapOptions{PostBootstrap: []string{"/bin/setup"}},
		},
		{
			name: "custom method",
			section: `bootstrap:
  method: pitr
  pitr:
    command: /usr/local/bin/restore --from "/backups/last one"
    keep_existing_recovery_conf: false
    stanza: main
    delta: true
    recovery_conf:
      restore_command: cp /archive/%f %p
      recovery_target_name: before-upgrade
      Recovery_Target_Action: promote
      recovery_target_inclusive: false
  pgbackrest:
    command: /usr/bin/pgbackrest restore
`,
			want: pg.BootstrapOptions{Method: &pg.BootstrapMethod{
				Name: "pitr", Command: []string{"/usr/local/bin/restore", "--from", "/backups/last one"},
				Options: map[string]string{"stanza": "main", "delta": "true"},
				RecoveryConf: map[string]string{"restore_command": "cp /archive/%f %p", "recovery_target_name": "before-upgrade",
					"recovery_target_action": "promote", "recovery_target_inclusive": "off"},
			}},
			warnings: []string{"bootstrap.pgbackrest"},
		},
		{
			name:    "keep and no_params",
			section: "bootstrap:\n  method: r\n  initdb: [data-checksums]\n  r:\n    command: /bin/r\n    keep_existing_recovery_conf: true\n    no_params: true\n    recovery_conf: {restore_command: x}\n",
			want: pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "r", Command: []string{"/bin/r"},
				KeepExistingRecoveryConf: true, NoParams: true, RecoveryConf: map[string]string{"restore_command": "x"}}},
			warnings: []string{"bootstrap.initdb", "bootstrap.r.recovery_conf"},
		},
		{
			name:    "pg_hba still warned",
			section: "bootstrap:\n  pg_hba: [host all all 0.0.0.0/0 md5]\n",
			want:    pg.BootstrapOptions{}, warnings: []string{"bootstrap.pg_hba"},
		},
		{
			name:    "missing section",
			section: "bootstrap:\n  method: wal_g\n",
			errPath: "bootstrap.method", errText: "no bootstrap.wal_g section",
		},
		{
			name:    "section without command",
			section: "bootstrap:\n  method: r\n  r:\n    no_params: true\n",
			errPath: "bootstrap.r.command", errText: "required",
		},
		{
			name:    "unbalanced quote",
			section: "bootstrap:\n  method: r\n  r:\n    command: /bin/r 'x\n",
			errPath: "bootstrap.r.command", errText: "required",
		},
		{
			name:    "reserved option",
			section: "bootstrap:\n  method: r\n  r:\n    command: /bin/r\n    datadir: /elsewhere\n",
			errPath: "bootstrap.r.datadir", errText: "passed by pgha",
		},
		{
			name:    "option that is not a scalar",
			section: "bootstrap:\n  method: r\n  r:\n    command: /bin/r\n    extra: [a, b]\n",
			errPath: "bootstrap.r.extra", errText: "scalar",
		},
		{
			name:    "managed recovery setting",
			section: "bootstrap:\n  method: r\n  r:\n    command: /bin/r\n    recovery_conf:\n      primary_conninfo: host=x\n",
			errPath: "bootstrap.r.recovery_conf.primary_conninfo", errText: "managed by pgha",
		},
		{
			name:    "recovery setting with a list",
			section: "bootstrap:\n  method: r\n  r:\n    command: /bin/r\n    recovery_conf:\n      restore_command: [a]\n",
			errPath: "bootstrap.r.recovery_conf.restore_command", errText: "want a string",
		},
		{
			name:    "empty post_bootstrap",
			section: "bootstrap:\n  post_bootstrap: \"  \"\n",
			errPath: "bootstrap.post_bootstrap", errText: "program",
		},
		{
			name:    "post_bootstrap and post_init",
			section: "bootstrap:\n  post_bootstrap: /a\n  post_init: /b\n",
			errPath: "bootstrap.post_init", errText: "set twice",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws, err := Parse([]byte(minimal+tc.section), nil)
			if err == nil {
				if got := warningPaths(ws); !slices.Equal(got, tc.warnings) {
					t.Errorf("warnings %v, want %v", ws, tc.warnings)
				}
				err = cfg.Validate()
			}
			if tc.errPath != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPath) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want one at %s mentioning %q", err, tc.errPath, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.BootstrapOptions(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BootstrapOptions\n got %+v %+v\nwant %+v %+v", got, got.Method, tc.want, tc.want.Method)
			}
		})
	}
}
