package dcs

import "testing"

// FuzzParse feeds arbitrary bytes to every key's decoder: Parse must never
// panic, and whatever it accepts must encode and decode again to the same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range patroniSamples {
		f.Add(s.key, []byte(s.value))
	}
	f.Add(KeyLeader, []byte("pg1"))
	f.Add(KeyInitialize, []byte(""))
	f.Add(KeyFailover, []byte("a:b"))
	f.Add("members/x", []byte("postgres://h:5432/db?application_name=http://h:8008/patroni"))
	f.Add(KeyConfig, []byte(`{"postgresql":null,"ttl":1e400}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		c := Parse(Snapshot{KVs: []KV{{Key: key, Value: value}}})
		var again []byte
		switch {
		case c.Config != nil && key == KeyConfig:
			again = c.Config.Encode()
		case c.Sync != nil:
			again = c.Sync.Encode()
		case c.Status != nil:
			again = c.Status.Encode()
		case c.Failover != nil:
			again = c.Failover.Encode()
		case c.History != nil:
			again = c.History.Encode()
		case len(c.Members) == 1:
			again = c.Members[0].Encode()
		default:
			return
		}
		c2 := Parse(Snapshot{KVs: []KV{{Key: key, Value: again}}})
		if len(c2.Problems) > 0 {
			t.Fatalf("re-encoded value %s does not decode cleanly: %v", again, c2.Problems)
		}
		if got := encodeKV(t, c2, key); string(got) != string(again) {
			t.Fatalf("encoding not stable:\n%s\n%s", again, got)
		}
	})
}
