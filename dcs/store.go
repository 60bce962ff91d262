package dcs

import (
	"context"
	"fmt"
	"path"
	"time"
)

// Key names, relative to the cluster prefix.
const (
	KeyLeader        = "leader"
	KeyMembersPrefix = "members/"
	KeyConfig        = "config"
	KeyInitialize    = "initialize"
	KeyStatus        = "status"
	KeySync          = "sync"
	KeyFailover      = "failover"
	KeyHistory       = "history"
	KeyFailsafe      = "failsafe"
)

// DefaultNamespace is Patroni's default namespace.
const DefaultNamespace = "service"

// MemberKey returns the relative key of a member.
func MemberKey(name string) string { return KeyMembersPrefix + name }

// Prefix returns the cluster prefix "/<namespace>/<scope>/" with repeated
// slashes collapsed, as Patroni builds it. An empty namespace means
// [DefaultNamespace].
func Prefix(namespace, scope string) string {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return path.Clean("/"+namespace+"/"+scope) + "/"
}

// ValidateName reports whether name may be used as a scope or member name:
// non-empty, at most 128 bytes, and only letters, digits and "-_.". Member
// names end up in keys, slot names, HAProxy and PostgreSQL configuration, so
// anything else is refused at the door.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("dcs: empty name")
	}
	if len(name) > 128 {
		return fmt.Errorf("dcs: name %.20q... longer than 128 bytes", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("dcs: name %q: character %q not allowed (use letters, digits, '-', '_', '.')", name, r)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("dcs: name %q not allowed", name)
	}
	return nil
}

// LeaseID identifies a lease (etcd lease, Consul session, memory lease).
// Zero means "no lease".
type LeaseID int64

// KV is one key of a snapshot or watch event. Key is relative to the
// cluster prefix.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Lease          LeaseID
}

// Snapshot is a consistent read of every key under the cluster prefix at
// Revision.
type Snapshot struct {
	Revision int64
	KVs      []KV
}

// EventType says what happened to a key.
type EventType int

// Event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

// String returns "put" or "delete" (EventType(n) when unknown), for logs.
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change. For EventDelete, KV carries the key and the
// ModRevision of the deletion; Value is empty.
type Event struct {
	Type EventType
	KV   KV
}

// WatchResponse is one batch of changes delivered by [Store.Watch], in
// revision order. When Snapshot is non-nil the watch could not deliver the
// changes since the caller's revision (compaction, lost connection, or a
// backend without history): Snapshot is a fresh read that replaces
// everything the caller knew, and Events is empty.
type WatchResponse struct {
	Revision int64
	Events   []Event
	Snapshot *Snapshot
}

// Cond is the condition a conditional write must satisfy; zero means
// unconditional. Fields combine with AND.
type Cond struct {
	// Absent requires the key not to exist (create-if-absent).
	Absent bool
	// ModRevision, when non-zero, requires the key's current mod revision to
	// equal it (compare-and-swap).
	ModRevision int64
	// Leader, when non-nil, requires the leader key to still hold this term:
	// same value and same create revision. Every write made on behalf of the
	// leader carries it (fencing).
	Leader *Leader
}

// Store is a DCS backend scoped to one cluster prefix. Every method honours
// ctx and additionally applies the backend's request timeout, so no call
// hangs on an unreachable store: it returns an error wrapping
// [ErrUnavailable] instead. Implementations are safe for concurrent use.
type Store interface {
	// Get returns a linearizable snapshot of the cluster prefix.
	Get(ctx context.Context) (Snapshot, error)
	// Watch follows changes under the prefix after revision rev until ctx
	// ends; the channel is then closed. It survives connection loss and
	// compaction by re-reading (see WatchResponse).
	//
	// A backend with a change history (etcd, memory) delivers every change
	// after rev, in order. A backend without one (Consul) may start with a
	// Snapshot when rev is in the past, and may collapse the changes made
	// between two of its reads into their net effect (a put then a delete
	// of a key may show as nothing). Every backend delivers in increasing
	// revision order and converges: once writes stop, the caller's view
	// (the last Snapshot with the later Events applied) equals what Get
	// returns. Consumers must treat a watch as a wake-up and a state feed,
	// never count on seeing each intermediate state.
	Watch(ctx context.Context, rev int64) <-chan WatchResponse

	// Grant creates a lease that expires ttl after its last keepalive.
	Grant(ctx context.Context, ttl time.Duration) (LeaseID, error)
	// KeepAlive renews the lease once. It returns an error wrapping
	// ErrLeaseLost if the lease no longer exists.
	KeepAlive(ctx context.Context, id LeaseID) error
	// Revoke ends the lease now, deleting the keys bound to it. Revoking a
	// lease that is already gone is not an error.
	Revoke(ctx context.Context, id LeaseID) error

	// Put writes key if cond holds, binding it to lease when lease is
	// non-zero, and returns the revision of the write. A failed condition
	// returns an error wrapping ErrConflict; an unknown lease ErrLeaseLost.
	Put(ctx context.Context, key string, value []byte, lease LeaseID, cond Cond) (int64, error)
	// Delete removes key if cond holds. Deleting an absent key without
	// conditions is not an error; with Cond.ModRevision or Cond.Leader it
	// is a conflict.
	Delete(ctx context.Context, key string, cond Cond) error

	// Close releases client resources. It does not revoke leases.
	Close() error
}
