package pglocal

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pgha/pgha/pg"
)

func TestConfigValidation(t *testing.T) {
	base := func() Config {
		return Config{Name: "n", BinDir: "/bin", DataDir: "/data/pg", Superuser: Credentials{Password: "x"},
			Replication: Credentials{Password: "y"}}
	}
	for _, tc := range []struct {
		field string
		mut   func(*Config)
	}{
		{"Name", func(c *Config) { c.Name = "" }},
		{"BinDir", func(c *Config) { c.BinDir = "" }},
		{"DataDir", func(c *Config) { c.DataDir = "relative" }},
		{"Port", func(c *Config) { c.Port = 70000 }},
		{"LogFile", func(c *Config) { c.LogFile = "/data/pg/log" }},
		{"SocketDir", func(c *Config) { c.SocketDir = "/" + strings.Repeat("s", 100) }},
		{"Superuser.Password", func(c *Config) { c.Superuser.Password = "" }},
		{"Replication.Password", func(c *Config) { c.Replication.Password = "" }},
		{"Parameters[port]", func(c *Config) { c.Parameters = map[string]string{"port": "1"} }},
		{"Parameters[Bad Name]", func(c *Config) { c.Parameters = map[string]string{"Bad Name": "1"} }},
		{"Parameters[work_mem]", func(c *Config) { c.Parameters = map[string]string{"work_mem": "1\nport = 1"} }},
		{"HBA[0]", func(c *Config) { c.HBA = []string{"host all all\nlocal all all trust"} }},
		{"ReplicaMethods[0].Command", func(c *Config) { c.ReplicaMethods = []ReplicaMethod{{Name: "pgbackrest"}} }},
		{"Name", func(c *Config) { c.Name = "a\x00b" }},
		{"Parameters[restore_command]", func(c *Config) { c.Parameters = map[string]string{"restore_command": "cp x y"} }},
		{"RecoveryConf[primary_conninfo]", func(c *Config) { c.RecoveryConf = map[string]string{"primary_conninfo": "host=x"} }},
		{"RecoveryConf[primary_slot_name]", func(c *Config) { c.RecoveryConf = map[string]string{"primary_slot_name": "s"} }},
		{"RecoveryConf[recovery_target_time]", func(c *Config) { c.RecoveryConf = map[string]string{"recovery_target_time": "2026-01-01"} }},
		{"RecoveryConf[work_mem]", func(c *Config) { c.RecoveryConf = map[string]string{"work_mem": "1MB"} }},
		{"RecoveryConf[restore_command]", func(c *Config) { c.RecoveryConf = map[string]string{"restore_command": "cp a b\nport = 1"} }},
	} {
		c := base()
		tc.mut(&c)
		err := c.withDefaults().validate()
		if !errors.Is(err, pg.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v", tc.field, err)
		}
	}
	if err := base().withDefaults().validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestRenderConfRecoveryConf(t *testing.T) {
	rc := map[string]string{"restore_command": `cp /arch/%f "%p"`, "recovery_min_apply_delay": "5s",
		"archive_cleanup_command": "pg_archivecleanup /arch %r", "recovery_end_command": "true"}
	c := Config{Name: "n", BinDir: "/bin", DataDir: "/d", RecoveryConf: rc, Superuser: Credentials{Password: "x"},
		Replication: Credentials{Password: "y"}}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("validate: %v (the recovery settings must be accepted)", err)
	}
	for _, tc := range []struct {
		name    string
		standby bool
	}{{"replica", true}, {"primary", false}} {
		out := parseOwnConf(string(renderConf(c, nil, pg.ClusterConfig{}, confState{standby: tc.standby})))
		for k, v := range rc {
			got, ok := out[k]
			if tc.standby && got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
			if !tc.standby && ok {
				t.Errorf("%s: %s written on a primary: %q", tc.name, k, got)
			}
		}
	}
}

// TestRenderConfFollowRecovery: a follow's own recovery settings (a
// standby leader's, from standby_cluster) override Config.RecoveryConf,
// only on a replica; a multi-host upstream asks for a read-write session.
func TestRenderConfFollowRecovery(t *testing.T) {
	c := Config{Name: "n", BinDir: "/bin", DataDir: "/d", RecoveryConf: map[string]string{"restore_command": "local", "recovery_min_apply_delay": "5s"},
		Superuser: Credentials{Password: "x"}, Replication: Credentials{Username: "rep", Password: "y"}}.withDefaults()
	rec := map[string]string{"restore_command": "remote"}
	out := parseOwnConf(string(renderConf(c, nil, pg.ClusterConfig{}, confState{standby: true, recovery: rec})))
	if out["restore_command"] != "remote" || out["recovery_min_apply_delay"] != "5s" {
		t.Errorf("replica: %v, want restore_command from the follow and the local delay", out)
	}
	out = parseOwnConf(string(renderConf(c, nil, pg.ClusterConfig{}, confState{recovery: rec})))
	if _, ok := out["restore_command"]; ok {
		t.Errorf("primary: restore_command written: %v", out)
	}
	l := &Local{cfg: c}
	ci := l.primaryConninfo(pg.FollowConfig{Upstream: pg.Upstream{Host: "a,b", Port: 5432}, ApplicationName: "n", TargetSessionAttrs: "read-write"})
	if !strings.Contains(ci, "host='a,b'") || !strings.Contains(ci, "target_session_attrs='read-write'") {
		t.Errorf("conninfo %s", ci)
	}
	for _, bad := range []map[string]string{{"primary_conninfo": "x"}, {"restore_command": "a\nb"}} {
		if err := checkRecovery(bad); !errors.Is(err, pg.ErrInvalidConfig) {
			t.Errorf("checkRecovery(%v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestRewindArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restore string
		major   int
		want    bool
	}{
		{"restore_command on 15", "cp /a/%f %p", 15, true},
		{"restore_command, version unknown", "cp /a/%f %p", 0, true},
		{"restore_command on 12 (no such flag)", "cp /a/%f %p", 12, false},
		{"no restore_command", "", 15, false},
		{"blank restore_command", "  ", 15, false},
	} {
		args := rewindArgs("/d", "host=h", tc.restore, tc.major)
		if got := slices.Contains(args, "--restore-target-wal"); got != tc.want {
			t.Errorf("%s: args %q", tc.name, args)
		}
		if !slices.Equal(args[:2], []string{"-D", "/d"}) || args[2] != "--source-server=host=h" {
			t.Errorf("%s: args %q", tc.name, args)
		}
	}
}

func TestRenderConfQuotes(t *testing.T) {
	c := Config{Name: "n", DataDir: "/d", Parameters: map[string]string{"application_name": `x' port = '1`, "search_path": `a\'b`}}.withDefaults()
	out := string(renderConf(c, c.Parameters, pg.ClusterConfig{}, confState{primaryConninfo: conninfo("host", "h", "password", `p'w\d`)}))
	for _, want := range []string{
		`application_name = 'x'' port = ''1'`,
		`search_path = 'a\\''b'`,
		`primary_conninfo = 'host=''h'' password=''p\\''w\\\\d'''`,
		"port = '5432'",
		"wal_level = 'replica'",
		"hba_file = '/d/pgha_hba.conf'",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("pgha.conf lacks %q:\n%s", want, out)
		}
	}
	back := parseOwnConf(out)
	if back["primary_conninfo"] != conninfo("host", "h", "password", `p'w\d`) || back["application_name"] != `x' port = '1` ||
		back["search_path"] != `a\'b` {
		t.Errorf("parseOwnConf did not invert renderConf: %q", back)
	}
	if strings.Count(out, "\nport = ") != 1 {
		t.Errorf("port set more than once:\n%s", out)
	}
}

func TestParseHistory(t *testing.T) {
	h, err := parseHistory("1\t0/3000060\tno recovery target specified\n\n2\t0/5000000\tat restore point \"x\"\n")
	if err != nil || len(h) != 2 || h[0] != (historyEntry{1, 0x3000060}) || h[1] != (historyEntry{2, 0x5000000}) {
		t.Fatalf("%+v, %v", h, err)
	}
	for _, bad := range []string{"1", "x\t0/1", "1\tnope"} {
		if _, err := parseHistory(bad); err == nil {
			t.Errorf("parseHistory(%q) accepted", bad)
		}
	}
}

func TestParseControlData(t *testing.T) {
	out := `pg_control version number:            1300
Database system identifier:           7300000000000000001
Database cluster state:               shut down
Latest checkpoint location:           0/3000028
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       1
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
wal_log_hints setting:                on
Data page checksum version:           0
`
	cd, err := parseControlData(out)
	if err != nil {
		t.Fatal(err)
	}
	want := controlData{systemID: 7300000000000000001, state: "shut down", checkpoint: 0x3000028, checkpointTLI: 1, walLogHints: true}
	if cd != want || !cd.cleanShutdown() || cd.inRecovery() {
		t.Fatalf("%+v", cd)
	}
	if _, err := parseControlData("garbage"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseCheckpointEnd(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want pg.LSN
		err  bool
	}{
		{"rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/03000028, prev 0/00000000, desc: CHECKPOINT_SHUTDOWN\n" +
			"pg_waldump: error: error in WAL record at 0/3000028: invalid record length at 0/30000A0: wanted 24, got 0\n", 0x30000A0, false},
		{"rmgr: XLOG len (rec/tot): 114/ 114, tx: 0, lsn: 0/03000028, prev 0/00000000, desc: CHECKPOINT_SHUTDOWN\n" +
			"rmgr: Heap len (rec/tot): 54/ 54, tx: 735, lsn: 0/030000A0, prev 0/03000028, desc: INSERT\n", 0x30000A0, false},
		{"pg_waldump: error: could not find file \"000000010000000000000003\"", 0, true},
	} {
		got, err := parseCheckpointEnd(tc.out)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: %v, %v", tc.out, got, err)
		}
	}
}

func TestRewindWALMissing(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{`pg_rewind: servers diverged at WAL location 0/402F1A0 on timeline 1
pg_rewind: error: could not find previous WAL record at 0/402F1A0: invalid record length at 0/402F1A0: wanted 24, got 0`, true},
		{"pg_rewind: error: could not read WAL record at 0/5000000: invalid magic number 0000", true},
		{`pg_rewind: error: could not open file "/d/pg_wal/000000010000000000000004": No such file or directory`, true},
		{"pg_rewind: error: could not connect to server: connection refused", false},
		{"", false},
	} {
		if got := rewindWALMissing(tc.out) != ""; got != tc.want {
			t.Errorf("rewindWALMissing(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}
