// Package agentconfig is the configuration of a pgha node agent: it parses
// and validates a Patroni-style patroni.yml, with PATRONI_* and PGHA_*
// environment overrides, and turns it into the options of pgha's packages.
// pgha-agent and pgha-ctl use it; an embedder that builds its own agent,
// operator or control plane around failover.Controller imports it to
// accept the same file its operators already have.
//
// The keys are Patroni's wherever the concept is the same. [Load] (or
// [Parse] for a document in memory) reads the file; a value of the wrong
// type is an error naming the field's dotted path and line
// ("config: bootstrap.dcs.ttl (line 14): want a number of seconds ...");
// a key pgha does not use, whether unknown or a Patroni setting pgha does
// not implement (callbacks, raft, ...), comes back as a [Warning] with its
// path and line, never silently dropped. Environment variables with
// Patroni's names (PATRONI_SCOPE, PATRONI_RESTAPI_LISTEN,
// PATRONI_ETCD3_HOSTS, PATRONI_SUPERUSER_PASSWORD, ...) override the file,
// and the same names with the PGHA_ prefix override those; a variable
// with either prefix that pgha does not know is a warning too. The
// document is bounded in size and in alias expansion.
//
// [Config.Validate] checks everything an agent needs and reports every
// problem as a [FieldError] naming the field and where its value came
// from; [Config.ValidateClient] checks only what a CLI uses (scope,
// namespace, DCS, API credentials). Then the conversions:
//   - [Config.ControllerOptions]: failover.ControllerOptions (member,
//     URLs, tags, settings, bootstrap, peer authentication);
//   - [Config.NewStore]: the etcd v3 or Consul dcs.Store;
//   - [Config.PGLocalConfig] and [Config.BootstrapOptions]: package pg;
//   - [Config.ClusterConfig]: bootstrap.dcs as the cluster's config key;
//   - [Config.HealthAuth] and [Config.HealthServerOptions]: package
//     healthapi; [Config.APIAuth] and [Config.APIClientTLS] its callers;
//   - [Config.WatchdogConfig]: package watchdog.
//
// Differences from Patroni worth knowing:
//   - An "etcd" (v2) section is read as etcd3, with a warning: pgha speaks
//     only the v3 API.
//   - Durations may be fractional seconds or Go durations ("500ms"); pgha
//     runs safely with a much shorter ttl than Patroni's minimum of 20.
//   - postgresql.data_dir and bin_dir must be absolute paths.
//   - Server settings that pgha derives from other fields (port,
//     listen_addresses, hba_file, primary_conninfo, ...) are refused in
//     parameters, with the field to use instead.
//   - postgresql.run_as_user (pgha only) names the OS user that runs
//     PostgreSQL when the agent runs as root.
//
// testdata/pgha.yml is a complete annotated configuration.
package agentconfig
