package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const wantList = `+ Cluster: batman (7268616322854375442) -+-----------+----+-----------+-----------------+------------------+
| Member      | Host           | Role    | State     | TL | Lag in MB | Pending restart | Tags             |
+-------------+----------------+---------+-----------+----+-----------+-----------------+------------------+
| postgresql0 | 127.0.0.1:5432 | Leader  | running   |  2 |           |                 |                  |
| postgresql1 | 127.0.0.1:5433 | Replica | streaming |  2 |         0 |                 |                  |
| postgresql2 | 127.0.0.1:5434 | Replica | streaming |  2 |         9 | *               | nofailover: true |
+-------------+----------------+---------+-----------+----+-----------+-----------------+------------------+
`

func TestList(t *testing.T) {
	store := newMemoryStore(t)
	seed(t, store, [3]string{"127.0.0.1:8008", "127.0.0.1:8009", "127.0.0.1:8010"})
	app, out, _ := testApp(store)
	if err := app.Run(context.Background(), []string{"list"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != wantList {
		t.Fatalf("got:\n%s\nwant:\n%s", out, wantList)
	}
}

func TestListJSON(t *testing.T) {
	store := newMemoryStore(t)
	seed(t, store, [3]string{"127.0.0.1:8008", "127.0.0.1:8009", "127.0.0.1:8010"})
	app, out, _ := testApp(store)
	if err := app.Run(context.Background(), []string{"list", "--json"}); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []map[string]any{
		{"Cluster": "batman", "Member": "postgresql0", "Host": "127.0.0.1:5432", "Role": "Leader", "State": "running", "TL": 2.0},
		{"Cluster": "batman", "Member": "postgresql1", "Host": "127.0.0.1:5433", "Role": "Replica", "State": "streaming", "TL": 2.0, "Lag in MB": 0.0},
		{"Cluster": "batman", "Member": "postgresql2", "Host": "127.0.0.1:5434", "Role": "Replica", "State": "streaming", "TL": 2.0, "Lag in MB": 9.0,
			"Pending restart": "*", "Tags": map[string]any{"nofailover": true}},
	}
	got, _ := json.Marshal(rows)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got  %s\nwant %s", got, exp)
	}
}

// Headers for a cluster being bootstrapped, roles in synchronous mode,
// lag from the leader's xlog when there is no status key, maintenance mode
// and a scheduled switchover, and a hostile value from the DCS.
func TestListStates(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	app, out, errOut := testApp(store)
	if err := app.Run(ctx, []string{"list"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "+ Cluster: batman (uninitialized) --+-----------+\n| Member | Host | Role | State | TL | Lag in MB |\n") {
		t.Errorf("empty cluster:\n%s", out)
	}
	put := func(k, v string) {
		if _, err := store.Put(ctx, k, []byte(v), 0, dcsCond()); err != nil {
			t.Fatal(err)
		}
	}
	put("initialize", "")
	put("config", `{"synchronous_mode":true,"pause":true}`)
	put("leader", "a")
	put("sync", `{"leader":"a","sync_standby":"b","quorum":0}`)
	put("failover", `{"leader":"a","member":"b","scheduled_at":"2024-01-14T11:00:00+00:00"}`)
	put("members/a", `{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","xlog_location":20971520,"timeline":3}`)
	put("members/b", `{"conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni","state":"running","role":"replica","receive_lsn":10485760,"replication_state":"streaming","timeline":3}`)
	put("members/c", `{"conn_url":"postgres://10.0.0.3:5432/postgres","api_url":"http://10.0.0.3:8008/patroni","state":"stopped\n| evil |","role":"replica"}`)
	put("members/d", `not json`)
	out.Reset()
	if err := app.Run(ctx, []string{"list"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"+ Cluster: batman (initializing) ",
		"| a      | 10.0.0.1:5432 | Leader       | running          |  3 |           |",
		"| b      | 10.0.0.2:5432 | Sync Standby | streaming        |  3 |        10 |",
		"| c      | 10.0.0.3:5432 | Replica      | stopped?| evil | |    |   unknown |",
		" Maintenance mode: on",
		" Switchover scheduled at: 2024-01-14T11:00:00+00:00",
		"                    from: a",
		"                      to: b",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(errOut.String(), `key "members/d" ignored`) {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestHistory(t *testing.T) {
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, out, _ := testApp(store)
	if err := app.Run(context.Background(), []string{"history"}); err != nil {
		t.Fatal(err)
	}
	want := `+----+----------+------------------------------+----------------------------------+-------------+
| TL |      LSN | Reason                       | Timestamp                        | New Leader  |
+----+----------+------------------------------+----------------------------------+-------------+
|  1 | 25165984 | no recovery target specified | 2024-01-14T10:09:57.123456+00:00 | postgresql0 |
+----+----------+------------------------------+----------------------------------+-------------+
`
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	out.Reset()
	if err := app.Run(context.Background(), []string{"history", "--json"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"New Leader": "postgresql0"`) || !strings.Contains(out.String(), `"LSN": 25165984`) {
		t.Fatalf("json: %s", out)
	}
}
