package etcdembed

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	base := Member{Name: "m0", Dir: "/tmp/x", ClientURL: LoopbackURL(2379), PeerURL: LoopbackURL(2380)}
	proxied := base
	proxied.AdvertiseClientURL = LoopbackURL(3379)
	proxied.AdvertisePeerURL = LoopbackURL(3380)
	noName := base
	noName.Name = ""
	badURL := base
	badURL.PeerURL = "127.0.0.1:2380"
	tests := []struct {
		name          string
		m             Member
		wantErr       string
		client, peer  string // advertised
		listenC, lisP string
	}{
		{name: "advertises listeners", m: base, client: LoopbackURL(2379), peer: LoopbackURL(2380), listenC: LoopbackURL(2379), lisP: LoopbackURL(2380)},
		{name: "advertises proxies", m: proxied, client: LoopbackURL(3379), peer: LoopbackURL(3380), listenC: LoopbackURL(2379), lisP: LoopbackURL(2380)},
		{name: "no name", m: noName, wantErr: "needs a name"},
		{name: "bad URL", m: badURL, wantErr: "bad URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(tt.m, "m0="+tt.m.PeerURL, "tok")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Config error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if got := cfg.AdvertiseClientUrls[0].String(); got != tt.client {
				t.Errorf("advertised client URL = %s, want %s", got, tt.client)
			}
			if got := cfg.AdvertisePeerUrls[0].String(); got != tt.peer {
				t.Errorf("advertised peer URL = %s, want %s", got, tt.peer)
			}
			if got := cfg.ListenClientUrls[0].String(); got != tt.listenC {
				t.Errorf("client listener = %s, want %s", got, tt.listenC)
			}
			if got := cfg.ListenPeerUrls[0].String(); got != tt.lisP {
				t.Errorf("peer listener = %s, want %s", got, tt.lisP)
			}
			if cfg.InitialClusterToken != "tok" || cfg.TickMs != 50 || cfg.ElectionMs != 500 {
				t.Errorf("token/tick/election = %q/%d/%d", cfg.InitialClusterToken, cfg.TickMs, cfg.ElectionMs)
			}
		})
	}
}

func TestInitialCluster(t *testing.T) {
	got := InitialCluster([]Member{
		{Name: "a", PeerURL: LoopbackURL(1)},
		{Name: "b", PeerURL: LoopbackURL(2), AdvertisePeerURL: LoopbackURL(3)},
	})
	if want := "a=http://127.0.0.1:1,b=http://127.0.0.1:3"; got != want {
		t.Errorf("InitialCluster = %q, want %q", got, want)
	}
}
