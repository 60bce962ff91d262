package dcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Leader is the holder of the leader key: a term. Revision (the key's create
// revision) is the fencing token: it changes every time the key is created,
// so a write guarded by it can only succeed within the same term.
type Leader struct {
	Name        string
	Revision    int64
	ModRevision int64
	Lease       LeaseID
}

// Failover is the value of the failover key: a requested switchover (Leader
// set) or failover (only Member set), optionally scheduled. The zero value is
// the cleared key, "{}".
type Failover struct {
	Leader      string
	Member      string
	ScheduledAt *time.Time
	Extra       map[string]json.RawMessage
}

// IsZero reports whether the request is empty (cleared).
func (f *Failover) IsZero() bool {
	return f == nil || (f.Leader == "" && f.Member == "" && f.ScheduledAt == nil)
}

// patroniTime is the ISO 8601 layout Python's isoformat() produces.
const patroniTime = "2006-01-02T15:04:05.999999-07:00"

// Encode returns the failover JSON as Patroni writes it.
func (f *Failover) Encode() []byte {
	var w objWriter
	if f.Leader != "" {
		w.value("leader", f.Leader)
	}
	if f.Member != "" {
		w.value("member", f.Member)
	}
	if f.ScheduledAt != nil {
		w.value("scheduled_at", f.ScheduledAt.Format(patroniTime))
	}
	w.extra(f.Extra)
	return w.bytes()
}

// DecodeFailover parses the failover key, including the legacy
// "leader:candidate" text form.
func DecodeFailover(data []byte) (*Failover, error) {
	s := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD"))
	if s == "" {
		return &Failover{}, nil
	}
	if !strings.HasPrefix(s, "{") {
		l, m, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("failover: neither JSON nor leader:member: %.40q", s)
		}
		return &Failover{Leader: strings.TrimSpace(l), Member: strings.TrimSpace(m)}, nil
	}
	f, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	out := &Failover{}
	var errs []error
	f.take("leader", &out.Leader, &errs)
	f.take("member", &out.Member, &errs)
	var ts string
	if f.take("scheduled_at", &ts, &errs) {
		t, err := parseTime(ts)
		if err != nil {
			errs = append(errs, fmt.Errorf("field \"scheduled_at\": %w", err))
		} else {
			out.ScheduledAt = &t
		}
	}
	out.Extra = f.rest()
	if len(errs) > 0 {
		return out, fmt.Errorf("failover: %w", errors.Join(errs...))
	}
	return out, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, patroniTime, "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 time: %.40q", s)
}

// SyncState is the value of the sync key: which members the primary treats
// as synchronous. Quorum is meaningful only with synchronous_mode: quorum.
type SyncState struct {
	Leader      string
	SyncStandby []string
	Quorum      int
	// ModRevision is the key's revision, for compare-and-swap.
	ModRevision int64
}

// IsSync reports whether name is the sync leader or a listed sync standby.
func (s *SyncState) IsSync(name string) bool {
	if s == nil {
		return false
	}
	if s.Leader == name {
		return true
	}
	for _, n := range s.SyncStandby {
		if n == name {
			return true
		}
	}
	return false
}

// Encode returns the sync JSON as Patroni writes it: sync_standby is a
// sorted comma-separated string, or null when empty.
func (s *SyncState) Encode() []byte {
	var w objWriter
	w.value("leader", s.Leader)
	if len(s.SyncStandby) == 0 {
		w.raw("sync_standby", []byte("null"))
	} else {
		names := append([]string(nil), s.SyncStandby...)
		sort.Strings(names)
		w.value("sync_standby", strings.Join(names, ","))
	}
	w.value("quorum", s.Quorum)
	return w.bytes()
}

// DecodeSync parses the sync key.
func DecodeSync(data []byte) (*SyncState, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	out := &SyncState{}
	var errs []error
	f.take("leader", &out.Leader, &errs)
	var standby string
	if f.take("sync_standby", &standby, &errs) && standby != "" {
		for _, n := range strings.Split(standby, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out.SyncStandby = append(out.SyncStandby, n)
			}
		}
	}
	var q json.Number
	if f.take("quorum", &q, &errs) {
		n, err := q.Int64()
		if err != nil {
			errs = append(errs, fmt.Errorf("field \"quorum\": %w", err))
		}
		out.Quorum = int(n)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("sync: %w", errors.Join(errs...))
	}
	return out, nil
}

// HistoryEntry is one line of the history key: the switch to a new
// timeline.
type HistoryEntry struct {
	// Timeline is the timeline that ended.
	Timeline int64
	// LSN is where it ended.
	LSN       int64
	Reason    string
	Timestamp string
	NewLeader string
}

// History is the value of the history key.
type History []HistoryEntry

// Encode returns the history JSON as Patroni writes it.
func (h History) Encode() []byte {
	rows := make([][]any, 0, len(h))
	for _, e := range h {
		row := []any{e.Timeline, e.LSN, e.Reason}
		if e.Timestamp != "" || e.NewLeader != "" {
			row = append(row, e.Timestamp)
		}
		if e.NewLeader != "" {
			row = append(row, e.NewLeader)
		}
		rows = append(rows, row)
	}
	b, _ := marshalCompact(rows)
	return b
}

// DecodeHistory parses the history key. Rows that are too short or badly
// typed are skipped and reported.
func DecodeHistory(data []byte) (History, error) {
	var rows []json.RawMessage
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	h := History{}
	var errs []error
	for i, raw := range rows {
		var cells []json.RawMessage
		if err := json.Unmarshal(raw, &cells); err != nil || len(cells) < 3 {
			errs = append(errs, fmt.Errorf("history row %d: want [timeline, lsn, reason, ...]", i))
			continue
		}
		var e HistoryEntry
		var tl, lsn json.Number
		if json.Unmarshal(cells[0], &tl) != nil || json.Unmarshal(cells[1], &lsn) != nil {
			errs = append(errs, fmt.Errorf("history row %d: timeline and lsn must be numbers", i))
			continue
		}
		var err1, err2 error
		e.Timeline, err1 = tl.Int64()
		e.LSN, err2 = lsn.Int64()
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("history row %d: timeline and lsn must be integers", i))
			continue
		}
		_ = json.Unmarshal(cells[2], &e.Reason)
		if len(cells) > 3 {
			_ = json.Unmarshal(cells[3], &e.Timestamp)
		}
		if len(cells) > 4 {
			_ = json.Unmarshal(cells[4], &e.NewLeader)
		}
		h = append(h, e)
	}
	if len(errs) > 0 {
		return h, errors.Join(errs...)
	}
	return h, nil
}

// Status is the value of the status key, written by the leader.
type Status struct {
	// Optime is the leader's WAL flush position in bytes.
	Optime      int64
	Slots       map[string]int64
	RetainSlots []string
}

// Encode returns the status JSON as Patroni writes it.
func (s *Status) Encode() []byte {
	var w objWriter
	w.value("optime", s.Optime)
	if s.Slots != nil {
		w.value("slots", s.Slots) // encoding/json sorts map keys
	}
	if s.RetainSlots != nil {
		w.value("retain_slots", s.RetainSlots)
	}
	return w.bytes()
}

// DecodeStatus parses the status key.
func DecodeStatus(data []byte) (*Status, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	out := &Status{}
	var errs []error
	if v := takeInt(f, "optime", &errs); v != nil {
		out.Optime = *v
	}
	f.take("slots", &out.Slots, &errs)
	f.take("retain_slots", &out.RetainSlots, &errs)
	if len(errs) > 0 {
		return out, fmt.Errorf("status: %w", errors.Join(errs...))
	}
	return out, nil
}

// Failsafe is the value of the failsafe key: member name to API URL.
type Failsafe map[string]string

// Encode returns the failsafe JSON.
func (f Failsafe) Encode() []byte {
	b, _ := marshalCompact(map[string]string(f))
	return b
}

// DecodeFailsafe parses the failsafe key.
func DecodeFailsafe(data []byte) (Failsafe, error) {
	var f Failsafe
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("failsafe: %w", err)
	}
	return f, nil
}
