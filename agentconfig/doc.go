// Package agentconfig reads the pgha agent's YAML configuration, which uses the
// keys of Patroni's patroni.yml wherever the concept is the same, so an
// operator can point the agent (and pgha-ctl) at an existing Patroni
// configuration.
//
// [Load] walks the sections itself and has go.yaml.in/yaml/v3 decode each value: a value of
// the wrong type is an error naming the field's dotted path and line
// ("config: bootstrap.dcs.ttl (line 14): want a number of seconds ...");
// a key pgha does not use, whether unknown or a Patroni setting pgha does
// not implement (callbacks, watchdog, raft, ...), comes back as a
// [Warning] with its path, never silently dropped. Environment variables
// with Patroni's names (PATRONI_SCOPE, PATRONI_RESTAPI_LISTEN,
// PATRONI_ETCD3_HOSTS, PATRONI_SUPERUSER_PASSWORD, ...) override the file,
// and the same names with the PGHA_ prefix override those.
//
// [Config.Validate] checks everything the agent needs and reports every
// problem with the field named; [Config.ValidateClient] checks only the
// parts the CLI uses (scope, namespace, DCS, API credentials). Conversion
// helpers produce the library's option structs: [Config.NewStore] (etcd
// or Consul), [Config.PGLocalConfig] and [Config.BootstrapOptions] for
// package pg, [Config.ClusterConfig] for the config key, and
// [Config.HealthAuth] and [Config.HealthServerOptions] for package
// healthapi.
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
