package agentconfig

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// postgresql.recovery_conf reaches pglocal.Config.RecoveryConf; the keys
// the HA loop owns are refused, recovery targets are warned about and
// dropped, and a recovery setting under postgresql.parameters is refused
// with a pointer to recovery_conf.
func TestRecoveryConf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		section  string
		want     map[string]string
		warnings []string
		errPath  string
		errText  string
	}{
		{
			name: "accepted",
			section: `  recovery_conf:
    restore_command: cp /archive/%f "%p"
    archive_cleanup_command: pg_archivecleanup /archive %r
    recovery_min_apply_delay: 5s
    Recovery_End_Command: /bin/true
`,
			want: map[string]string{"restore_command": `cp /archive/%f "%p"`, "archive_cleanup_command": "pg_archivecleanup /archive %r",
				"recovery_min_apply_delay": "5s", "recovery_end_command": "/bin/true"},
		},
		{
			name: "recovery target warned and dropped",
			section: `  recovery_conf:
    restore_command: cp /a/%f %p
    recovery_target_time: "2026-01-01 00:00:00"
`,
			want:     map[string]string{"restore_command": "cp /a/%f %p"},
			warnings: []string{"postgresql.recovery_conf.recovery_target_time"},
		},
		{
			name:    "primary_conninfo refused",
			section: "  recovery_conf:\n    primary_conninfo: host=x\n",
			errPath: "postgresql.recovery_conf.primary_conninfo", errText: "HA loop",
		},
		{
			name:    "primary_slot_name refused",
			section: "  recovery_conf:\n    primary_slot_name: s\n",
			errPath: "postgresql.recovery_conf.primary_slot_name", errText: "HA loop",
		},
		{
			name:    "unknown key refused",
			section: "  recovery_conf:\n    work_mem: 1MB\n",
			errPath: "postgresql.recovery_conf.work_mem", errText: "restore_command",
		},
		{
			name:    "control character refused",
			section: "  recovery_conf:\n    restore_command: \"cp a b\\nport = 1\"\n",
			errPath: "postgresql.recovery_conf.restore_command", errText: "control",
		},
		{
			name:    "restore_command in parameters",
			section: "  parameters:\n    restore_command: cp /a/%f %p\n",
			errPath: "postgresql.parameters.restore_command", errText: "postgresql.recovery_conf",
		},
		{
			name:    "archive_cleanup_command in bootstrap.dcs parameters",
			section: "bootstrap:\n  dcs:\n    postgresql:\n      parameters:\n        archive_cleanup_command: x\n",
			errPath: "bootstrap.dcs.postgresql.parameters.archive_cleanup_command", errText: "postgresql.recovery_conf",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws, err := Parse([]byte(minimal+tc.section), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := warningPaths(ws); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %v, want %v", ws, tc.warnings)
			}
			err = cfg.Validate()
			if tc.errPath != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPath) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Validate: %v, want an error at %s mentioning %q", err, tc.errPath, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lc, err := cfg.PGLocalConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(lc.RecoveryConf, tc.want) {
				t.Errorf("RecoveryConf %q, want %q", lc.RecoveryConf, tc.want)
			}
			if _, ok := lc.Parameters["restore_command"]; ok {
				t.Errorf("restore_command leaked into Parameters: %q", lc.Parameters)
			}
		})
	}
}
