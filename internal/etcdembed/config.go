package etcdembed

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Raft timings of embedded members: elections take about a second, yet a
// loaded 2-core machine does not see spurious ones.
const (
	Heartbeat = 50 * time.Millisecond
	Election  = 500 * time.Millisecond
)

// Member describes one member of an embedded cluster. Its ports and data
// directory stay the same for its whole life, so a restart reuses them.
type Member struct {
	Name      string // member name, unique in the cluster
	Dir       string // data directory
	ClientURL string // client listener, "http://127.0.0.1:port"
	PeerURL   string // peer listener, "http://127.0.0.1:port"
	// AdvertiseClientURL and AdvertisePeerURL are what the member tells
	// others (a proxy in front of it, say); empty means the listener URL.
	AdvertiseClientURL string
	AdvertisePeerURL   string
}

// LoopbackURL returns "http://127.0.0.1:port".
func LoopbackURL(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port)
}

func (m Member) advertiseClient() string {
	if m.AdvertiseClientURL != "" {
		return m.AdvertiseClientURL
	}
	return m.ClientURL
}

func (m Member) advertisePeer() string {
	if m.AdvertisePeerURL != "" {
		return m.AdvertisePeerURL
	}
	return m.PeerURL
}

// InitialCluster returns the --initial-cluster value of members
// ("name=advertised-peer-url,...").
func InitialCluster(members []Member) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, m.Name+"="+m.advertisePeer())
	}
	return strings.Join(parts, ",")
}

// Config builds the embed configuration of m joining (or, with an existing
// data directory, rejoining) the cluster initialCluster with the given
// token. Build a new one for every start: embed keeps state in it.
func Config(m Member, initialCluster, token string) (*embed.Config, error) {
	if m.Name == "" || m.Dir == "" {
		return nil, fmt.Errorf("etcdembed: member needs a name and a data directory (got name %q, dir %q)", m.Name, m.Dir)
	}
	urls := make(map[string]url.URL, 4)
	for _, s := range []string{m.ClientURL, m.PeerURL, m.advertiseClient(), m.advertisePeer()} {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("etcdembed: member %s: bad URL %q", m.Name, s)
		}
		urls[s] = *u
	}
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	cfg.TickMs = uint(Heartbeat / time.Millisecond)
	cfg.ElectionMs = uint(Election / time.Millisecond)
	cfg.ListenClientUrls = []url.URL{urls[m.ClientURL]}
	cfg.AdvertiseClientUrls = []url.URL{urls[m.advertiseClient()]}
	cfg.ListenPeerUrls = []url.URL{urls[m.PeerURL]}
	cfg.AdvertisePeerUrls = []url.URL{urls[m.advertisePeer()]}
	cfg.InitialCluster = initialCluster
	cfg.InitialClusterToken = token
	cfg.ClusterState = embed.ClusterStateFlagNew // ignored once the data dir exists
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg, nil
}
