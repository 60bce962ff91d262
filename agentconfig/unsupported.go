package agentconfig

import "strings"

// unsupported names the Patroni settings that pgha knows but does not
// implement, by section, with the reason given in the warning.
func unsupported(section, key string) (string, bool) {
	const ignored = "Patroni setting not supported by pgha, ignored"
	switch section {
	case "":
		switch key {
		case "raft", "zookeeper", "exhibitor", "kubernetes":
			return "DCS not supported by pgha (use etcd3 or consul), ignored", true
		case "citus":
			return "Citus (MPP) clusters are not supported by pgha, ignored", true
		case "standby_cluster":
			return "ignored here: standby_cluster is dynamic configuration; set it under bootstrap.dcs (seeds the config key), or on a running cluster with pgha-ctl demote-cluster or edit-config", true
		case "postgresql_version", "global", "thread_pool_size", "ctl_url":
			return ignored, true
		}
	case "log":
		switch key {
		case "format", "dateformat", "traceback_level", "max_queue_size", "dir", "file_num", "file_size",
			"loggers", "static_fields", "mode", "deduplicate_heartbeat_logs":
			return "pgha logs to stderr through log/slog; only log.level and log.type are used", true
		}
	case "restapi":
		switch key {
		case "keyfile_password", "ciphers", "allowlist_include_members", "http_extra_headers",
			"https_extra_headers", "request_queue_size", "server_tokens":
			return ignored, true
		}
	case "ctl":
		switch key {
		case "keyfile_password", "insecure_skip_verify":
			return ignored, true
		}
	case "etcd3", "etcd":
		switch key {
		case "srv", "srv_suffix", "use_proxies", "proxy", "retry_timeout", "key_password", "cert_reqs":
			return ignored, true
		}
	case "consul":
		switch key {
		case "register_service", "service_tags", "service_check_interval", "service_check_tls_server_name",
			"key_password", "cert_reqs":
			return ignored, true
		}
	case "bootstrap":
		switch key {
		case "pg_hba", "pg_ident":
			return "bootstrap-time authentication rules are not supported by pgha (use postgresql.pg_hba and bootstrap.dcs.postgresql.pg_ident), ignored", true
		}
	case "postgresql":
		switch key {
		case "config_dir", "custom_conf", "pg_ident", "use_unix_socket",
			"use_unix_socket_repl", "pg_ctl_timeout", "krbsrvname", "basebackup", "remove_data_directory_on_rewind_failure",
			"remove_data_directory_on_diverged_timelines", "database", "bin_name", "proxy_address_port":
			return ignored, true
		}
	case "watchdog":
	}
	if strings.HasPrefix(section, "postgresql.authentication.") {
		switch key {
		case "sslmode", "sslkey", "sslcert", "sslrootcert", "sslcrl", "sslcrldir", "sslpassword", "gssencmode",
			"channel_binding":
			return "TLS options of PostgreSQL connections are not supported by pgha, ignored", true
		}
	}
	return "", false
}
