package dcs_test

import (
	"fmt"

	"github.com/pgha/pgha/dcs"
)

// Parse decodes the keys under a cluster prefix, as Patroni lays them out,
// into a Cluster; a value it cannot decode is reported, not fatal.
func ExampleParse() {
	fmt.Println(dcs.Prefix("", "batman") + dcs.MemberKey("node1"))
	cl := dcs.Parse(dcs.Snapshot{Revision: 7, KVs: []dcs.KV{
		{Key: "leader", Value: []byte("node1")},
		{Key: "members/node1", Value: []byte(`{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","xlog_location":50331648,"timeline":2}`)},
		{Key: "members/node2", Value: []byte(`{"state":"running","role":"replica"}`)},
		{Key: "sync", Value: []byte(`not json`)},
	}})
	m := cl.LeaderMember()
	fmt.Println(m.Name, m.Role, *m.XLogLocation)
	fmt.Println(len(cl.Members), "members;", len(cl.Problems), "problem:", cl.Problems[0])
	// Output:
	// /service/batman/members/node1
	// node1 primary 50331648
	// 2 members; 1 problem: key "sync" ignored: sync: invalid character 'o' in literal null (expecting 'u')
}
