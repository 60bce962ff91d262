package agentconfig

import (
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
)

// ControllerOptions returns the options of this node's
// [failover.Controller]: name, scope, the member's conn_url and api_url,
// tags, the settings, what a bootstrap uses (bootstrap.dcs as the config
// key a new cluster starts with, bootstrap.initdb) and the basic
// authentication sent to peers (restapi.authentication, which the members
// share, as in Patroni). store and inst are this node's DCS client
// ([Config.NewStore], scoped by namespace and scope) and PostgreSQL (for
// example pg.NewLocal of [Config.PGLocalConfig]).
//
// dynamic is the cluster's config key when it exists (dcs.Parse of a
// snapshot), else nil. As in Patroni, bootstrap.dcs only seeds a new
// cluster's key: the settings are pgha's defaults, which the Controller
// overlays with the key every cycle, so a value removed from the key falls
// back to pgha's default, not to this file. The exception is ttl, which
// sizes the first lease: without a key it is bootstrap.dcs.ttl, the value
// this node writes if it bootstraps. The election options are left zero:
// the Controller derives them from the settings' ttl.
//
// What is the embedder's policy rather than configuration stays unset:
// Version, ExitMode, Watchdog (see [Config.WatchdogConfig]), Logger,
// OnEvent, Clock.
func (c *Config) ControllerOptions(store dcs.Store, inst pg.Instance, dynamic *dcs.ClusterConfig) failover.ControllerOptions {
	boot := c.ClusterConfig()
	settings := failover.DefaultSettings().WithConfig(dynamic)
	if dynamic == nil {
		settings.TTL = dcs.Seconds(boot.TTL, settings.TTL)
	}
	bo := c.BootstrapOptions()
	var peerAuth *healthapi.BasicAuth
	if a := c.RestAPI.Authentication; a.Username != "" {
		peerAuth = &healthapi.BasicAuth{Username: a.Username, Password: a.Password}
	}
	return failover.ControllerOptions{
		Name:            c.Name,
		Scope:           c.Scope,
		Store:           store,
		Instance:        inst,
		ConnURL:         c.ConnURL(),
		APIURL:          c.APIURL(),
		Tags:            c.Tags,
		Settings:        settings,
		BootstrapConfig: boot,
		Bootstrap:       &bo,
		PeerAuth:        peerAuth,
	}
}
