package listing

import (
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// cluster decodes member values as they stand in the DCS.
func cluster(t *testing.T, leader string, members map[string]string, config string) *dcs.Cluster {
	t.Helper()
	init := "7000000000000000001"
	c := &dcs.Cluster{Initialize: &init, Leader: &dcs.Leader{Name: leader}}
	for _, name := range []string{"node1", "node2", "node3"} {
		v, ok := members[name]
		if !ok {
			continue
		}
		m, err := dcs.DecodeMember(name, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		c.Members = append(c.Members, m)
	}
	if config != "" {
		cfg, err := dcs.DecodeConfig([]byte(config))
		if err != nil {
			t.Fatal(err)
		}
		c.Config = cfg
	}
	return c
}

// WriteMembers, what pgha-ctl list and the demo print: patronictl 4's
// columns (Receive LSN and Replay LSN with their lag in MB), the service
// information under pretty tables only.
func TestWriteMembers(t *testing.T) {
	members := map[string]string{
		"node1": `{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"primary","xlog_location":52428800,"timeline":2}`,
		"node2": `{"conn_url":"postgres://127.0.0.2:5432/postgres","api_url":"http://127.0.0.2:8008/patroni","state":"running","role":"replica","receive_lsn":50331648,"replay_lsn":41943040,"replication_state":"streaming","timeline":2}`,
		"node3": `{"conn_url":"postgres://127.0.0.3:5432/postgres","api_url":"http://127.0.0.3:8008/patroni","state":"starting","role":"replica","timeline":1}`,
	}
	for _, tc := range []struct {
		name, format, config string
		want, notWant        []string
	}{
		{
			name: "pretty", format: FormatPretty,
			want: []string{
				"+ Cluster: demo (7000000000000000001) ",
				"| Member | Host      | Role    | State     | TL | Receive LSN | Lag | Replay LSN | Lag |",
				"| node1  | 127.0.0.1 | Leader  | running   |  2 |             |     |            |     |",
				"| node2  | 127.0.0.2 | Replica | streaming |  2 |   0/3000000 |   2 |  0/2800000 |  10 |",
				"| node3  | 127.0.0.3 | Replica | starting  |  1 |     unknown |     |    unknown |     |",
			},
			notWant: []string{"Lag in MB", "Maintenance mode"},
		},
		{
			name: "pretty, paused", format: FormatPretty, config: `{"pause":true}`,
			want: []string{"| node2  | 127.0.0.2 | Replica | streaming |", " Maintenance mode: on\n"},
		},
		{
			name: "tsv", format: FormatTSV, config: `{"pause":true}`,
			want: []string{
				"Cluster\tMember\tHost\tRole\tState\tTL\tReceive LSN\tReceive Lag\tReplay LSN\tReplay Lag\n",
				"demo\tnode2\t127.0.0.2\tReplica\tstreaming\t2\t0/3000000\t2\t0/2800000\t10\n",
			},
			notWant: []string{"Maintenance mode"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteMembers(&b, "demo", cluster(t, "node1", members, tc.config), false, tc.format); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// A member name or state from the DCS cannot forge rows or escapes.
func TestWriteMembersCleansCells(t *testing.T) {
	c := cluster(t, "node1", map[string]string{
		"node1": `{"conn_url":"postgres://127.0.0.1:5432/postgres","state":"running\n| forged | row |\u001b[2J","role":"primary","timeline":1}`,
	}, "")
	var b strings.Builder
	if err := WriteMembers(&b, "demo", c, false, FormatPretty); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\n| forged") || strings.Contains(b.String(), "\x1b") {
		t.Errorf("control characters reached the table:\n%s", b.String())
	}
}
