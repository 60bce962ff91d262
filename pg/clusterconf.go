package pg

import (
	"context"
	"maps"
	"slices"
)

// ClusterConfig is the part of the cluster's dynamic configuration (the
// postgresql section of the DCS config key, which `patronictl edit-config`
// writes) that every member applies to its server. A member's own
// pglocal.Config wins over it, as a member's patroni.yml wins over the DCS
// in Patroni, except for the parameters every member must share (see
// [SharedParameters]).
type ClusterConfig struct {
	// Parameters are server settings (postgresql.parameters).
	Parameters map[string]string
	// HBA are pg_hba.conf lines (postgresql.pg_hba); pglocal.Config.HBA,
	// when set, replaces them.
	HBA []string
	// Ident are pg_ident.conf lines (postgresql.pg_ident).
	Ident []string
}

// Equal reports whether c and o configure the server the same way.
func (c ClusterConfig) Equal(o ClusterConfig) bool {
	return maps.Equal(c.Parameters, o.Parameters) && slices.Equal(c.HBA, o.HBA) && slices.Equal(c.Ident, o.Ident)
}

// SharedParameters must hold the same value on the primary and on every
// replica: a replica with a lower value cannot replay the primary's WAL. As
// in Patroni they come from the cluster's configuration; a member's local
// value is used only when the cluster sets none.
var SharedParameters = []string{
	"max_connections", "max_locks_per_transaction", "max_prepared_transactions",
	"max_wal_senders", "max_worker_processes", "track_commit_timestamp", "wal_level",
}

// PendingChange is a setting whose new value takes effect only after a
// restart. The JSON names are those of Patroni's pending_restart_reason.
type PendingChange struct {
	OldValue string `json:"old_value"`
	NewValue string `json:"new_value"`
}

// ConfigResult is what applying a [ClusterConfig] did.
type ConfigResult struct {
	// Reloaded is set when the running server re-read its configuration.
	Reloaded bool
	// PendingRestart lists, by name, the settings that wait for a restart
	// (all of them, not only those this call changed).
	PendingRestart map[string]PendingChange
	// Warnings name each setting or line that was not applied and why:
	// managed by pgha, a guarded value, overridden by the local
	// configuration, or refused by the server. Nothing is left out
	// silently.
	Warnings []string
}

// ClusterConfigurer is implemented by instances that take the cluster's
// dynamic configuration while they run. pglocal.Local implements it; the
// Controller uses it when the instance does and warns once when the
// cluster's configuration has something to apply and it does not.
type ClusterConfigurer interface {
	// ApplyClusterConfig makes cc part of the server's configuration: it
	// is written for the next start and, on a running server, reloaded.
	ApplyClusterConfig(ctx context.Context, cc ClusterConfig) (ConfigResult, error)
}
