package dcs

import (
	"slices"
	"strings"
)

// Apply returns the view that results from applying one watch response to
// s, the state at s.Revision: what a watcher that started from s knows
// after resp. s is not modified.
//
//   - A response carrying a Snapshot replaces s, unless it is older than s
//     (then s is returned unchanged).
//   - Events at or below s.Revision are skipped: s already reflects them.
//     This is what lets a watcher replace its view by a newer Get while its
//     watch is still catching up.
//   - A put replaces or adds its key, a delete removes it; the result's
//     Revision is the highest of s.Revision, resp.Revision and the events
//     applied.
//
// KVs stay sorted by key when s's were (as Get returns them). Applying the
// responses of a watch started at s.Revision, in order, yields what Get
// returns at the same revision (the convergence [Store.Watch] promises).
func (s Snapshot) Apply(resp WatchResponse) Snapshot {
	if resp.Snapshot != nil {
		if resp.Snapshot.Revision < s.Revision {
			return s
		}
		return Snapshot{Revision: resp.Snapshot.Revision, KVs: slices.Clone(resp.Snapshot.KVs)}
	}
	out := Snapshot{Revision: s.Revision, KVs: slices.Clone(s.KVs)}
	for _, ev := range resp.Events {
		if ev.KV.ModRevision <= s.Revision {
			continue
		}
		i := slices.IndexFunc(out.KVs, func(kv KV) bool { return kv.Key == ev.KV.Key })
		switch ev.Type {
		case EventPut:
			kv := ev.KV
			kv.Value = slices.Clone(kv.Value)
			if i >= 0 {
				out.KVs[i] = kv
			} else {
				at, _ := slices.BinarySearchFunc(out.KVs, kv.Key, func(kv KV, key string) int { return strings.Compare(kv.Key, key) })
				out.KVs = slices.Insert(out.KVs, at, kv)
			}
		case EventDelete:
			if i >= 0 {
				out.KVs = slices.Delete(out.KVs, i, i+1)
			}
		}
		out.Revision = max(out.Revision, ev.KV.ModRevision)
	}
	if len(resp.Events) > 0 {
		out.Revision = max(out.Revision, resp.Revision)
	}
	return out
}
