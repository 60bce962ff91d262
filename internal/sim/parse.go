package sim

import (
	"sort"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// memberKey identifies one version of a member key.
type memberKey struct {
	name string
	rev  int64
}

// parse is dcs.Parse with member and history values memoised by (name,
// mod revision):
// every agent reads every member key about once per loop, and decoding
// them dominated the run time. Members are decoded by dcs.DecodeMember,
// everything else by dcs.Parse itself; a member that does not decode
// cleanly falls back to dcs.Parse of the whole snapshot.
func (s *Sim) parse(snap dcs.Snapshot) *dcs.Cluster {
	rest := make([]dcs.KV, 0, len(snap.KVs))
	var members []*dcs.Member
	var history dcs.History
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyHistory {
			h, ok := s.histories[kv.ModRevision]
			if !ok {
				var err error
				if h, err = dcs.DecodeHistory(kv.Value); err != nil || h == nil {
					return dcs.Parse(snap)
				}
				s.histories[kv.ModRevision] = h
			}
			history = h
			continue
		}
		name, ok := strings.CutPrefix(kv.Key, dcs.KeyMembersPrefix)
		if !ok {
			rest = append(rest, kv)
			continue
		}
		k := memberKey{name, kv.ModRevision}
		m, ok := s.members[k]
		if !ok {
			var err error
			if dcs.ValidateName(name) != nil {
				return dcs.Parse(snap)
			}
			if m, err = dcs.DecodeMember(name, kv.Value); err != nil || m == nil {
				return dcs.Parse(snap)
			}
			s.members[k] = m
		}
		members = append(members, m)
	}
	c := dcs.Parse(dcs.Snapshot{Revision: snap.Revision, KVs: rest})
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	c.Members, c.History = members, history
	return c
}
