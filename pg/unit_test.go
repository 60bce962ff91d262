package pg

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LSN
		err  bool
	}{
		{"0/3000060", 0x3000060, false},
		{"16/B374D848", 0x16B374D848, false},
		{"0/0", 0, false},
		{"FFFFFFFF/FFFFFFFF", LSN(^uint64(0)), false},
		{"0/03000028", 0x3000028, false},
		{"", 0, true},
		{"3000060", 0, true},
		{"0/", 0, true},
		{"x/1", 0, true},
		{"100000000/0", 0, true},
	} {
		got, err := ParseLSN(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v", tc.in, got, err)
		}
	}
	if s := LSN(0x16B374D848).String(); s != "16/B374D848" {
		t.Errorf("String = %s", s)
	}
	if LSN(0x3000060).Int64() != 50331744 {
		t.Error("Int64")
	}
}

func TestSlotName(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                 "node1",
		"Node-A.dc1":            "node_a_dc1",
		"pg@host":               "pgu0064host",
		"ü":                     "u0252",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := SlotName(in); got != want {
			t.Errorf("SlotName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	base := func() LocalConfig {
		return LocalConfig{Name: "n", BinDir: "/bin", DataDir: "/data/pg", Superuser: Credentials{Password: "x"},
			Replication: Credentials{Password: "y"}}
	}
	for _, tc := range []struct {
		field string
		mut   func(*LocalConfig)
	}{
		{"Name", func(c *LocalConfig) { c.Name = "" }},
		{"BinDir", func(c *LocalConfig) { c.BinDir = "" }},
		{"DataDir", func(c *LocalConfig) { c.DataDir = "relative" }},
		{"Port", func(c *LocalConfig) { c.Port = 70000 }},
		{"LogFile", func(c *LocalConfig) { c.LogFile = "/data/pg/log" }},
		{"SocketDir", func(c *LocalConfig) { c.SocketDir = "/" + strings.Repeat("s", 100) }},
		{"Superuser.Password", func(c *LocalConfig) { c.Superuser.Password = "" }},
		{"Replication.Password", func(c *LocalConfig) { c.Replication.Password = "" }},
		{"Parameters[port]", func(c *LocalConfig) { c.Parameters = map[string]string{"port": "1"} }},
		{"Parameters[Bad Name]", func(c *LocalConfig) { c.Parameters = map[string]string{"Bad Name": "1"} }},
		{"Parameters[work_mem]", func(c *LocalConfig) { c.Parameters = map[string]string{"work_mem": "1\nport = 1"} }},
		{"HBA[0]", func(c *LocalConfig) { c.HBA = []string{"host all all\nlocal all all trust"} }},
		{"ReplicaMethods[0].Command", func(c *LocalConfig) { c.ReplicaMethods = []ReplicaMethod{{Name: "pgbackrest"}} }},
		{"Name", func(c *LocalConfig) { c.Name = "a\x00b" }},
		{"Parameters[restore_command]", func(c *LocalConfig) { c.Parameters = map[string]string{"restore_command": "cp x y"} }},
		{"RecoveryConf[primary_conninfo]", func(c *LocalConfig) { c.RecoveryConf = map[string]string{"primary_conninfo": "host=x"} }},
		{"RecoveryConf[primary_slot_name]", func(c *LocalConfig) { c.RecoveryConf = map[string]string{"primary_slot_name": "s"} }},
		{"RecoveryConf[recovery_target_time]", func(c *LocalConfig) { c.RecoveryConf = map[string]string{"recovery_target_time": "2026-01-01"} }},
		{"RecoveryConf[work_mem]", func(c *LocalConfig) { c.RecoveryConf = map[string]string{"work_mem": "1MB"} }},
		{"RecoveryConf[restore_command]", func(c *LocalConfig) { c.RecoveryConf = map[string]string{"restore_command": "cp a b\nport = 1"} }},
	} {
		c := base()
		tc.mut(&c)
		err := c.withDefaults().validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
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
	c := LocalConfig{Name: "n", BinDir: "/bin", DataDir: "/d", RecoveryConf: rc, Superuser: Credentials{Password: "x"},
		Replication: Credentials{Password: "y"}}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("validate: %v (the recovery settings must be accepted)", err)
	}
	for _, tc := range []struct {
		name    string
		standby bool
	}{{"replica", true}, {"primary", false}} {
		out := parseOwnConf(string(renderConf(c, nil, ClusterConfig{}, confState{standby: tc.standby})))
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
	c := LocalConfig{Name: "n", DataDir: "/d", Parameters: map[string]string{"application_name": `x' port = '1`, "search_path": `a\'b`}}.withDefaults()
	out := string(renderConf(c, c.Parameters, ClusterConfig{}, confState{primaryConninfo: conninfo("host", "h", "password", `p'w\d`)}))
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

func TestSyncStandbys(t *testing.T) {
	for _, tc := range []struct {
		in   SyncStandbys
		want string
		err  bool
	}{
		{SyncStandbys{}, "", false},
		{SyncStandbys{Num: 1, Names: []string{"a"}}, `FIRST 1 ("a")`, false},
		{SyncStandbys{Method: SyncAny, Num: 2, Names: []string{"a", `b"c`, "d"}}, `ANY 2 ("a","b""c","d")`, false},
		{SyncStandbys{Num: 0, Names: []string{"a"}}, "", true},
		{SyncStandbys{Num: 2, Names: []string{"a"}}, "", true},
		{SyncStandbys{Method: "ALL", Num: 1, Names: []string{"a"}}, "", true},
		{SyncStandbys{Num: 1, Names: []string{""}}, "", true},
	} {
		err := tc.in.validate()
		if (err != nil) != tc.err {
			t.Errorf("%+v: validate = %v", tc.in, err)
		}
		if err == nil && tc.in.String() != tc.want {
			t.Errorf("%+v: String = %q, want %q", tc.in, tc.in.String(), tc.want)
		}
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
		want LSN
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
