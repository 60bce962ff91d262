package haproxycfg

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func sampleServers() []Server {
	return []Server{
		{Name: "pg-2", Host: "127.0.0.2", Port: 5432, CheckPort: 8008},
		{Name: "pg-1", Host: "127.0.0.1", Port: 5432, CheckPort: 8008},
		{Name: "pg_3.zone-a", Host: "localhost", Port: 6432, CheckHost: "127.0.0.3", CheckPort: 8009},
		{Name: "pg6", Host: "::1", Port: 5433, CheckHost: "::1", CheckPort: 8010},
		{Name: "pgdns", Host: "db-1.example.invalid", Port: 5432, CheckPort: 8008},
	}
}

func TestRenderAcceptedByHAProxy(t *testing.T) {
	bin := haproxyBin(t)
	dir := shortDir(t)
	ca := writeCA(t, dir)
	tlsServers := append(sampleServers(), Server{Name: "tls1", Host: "127.0.0.4", Port: 5432, CheckPort: 8443, CheckTLS: true},
		Server{Name: "tls2", Host: "localhost", Port: 5432, CheckPort: 8443, CheckTLS: true})

	tests := []struct {
		name    string
		servers []Server
		opts    func(*Options)
	}{
		{"defaults", sampleServers(), func(*Options) {}},
		{"no servers", nil, func(*Options) {}},
		{"read-write only", sampleServers(), func(o *Options) { o.ReadOnlyPort, o.StatsPort = 0, 0 }},
		{"read-only only", sampleServers(), func(o *Options) { o.ReadWritePort, o.StatsPort = 0, 0 }},
		{"sync only", sampleServers(), func(o *Options) { o.ReadWritePort, o.ReadOnlyPort, o.SyncPort = 0, 0, 5002 }},
		{"all listeners", sampleServers(), func(o *Options) { o.SyncPort = 5002 }},
		{"lag and primary backup", sampleServers(), func(o *Options) {
			o.MaxReplicaLagBytes = 16 << 20
			o.ReadOnlyIncludePrimary = true
		}},
		{"HEAD checks, slow guide timings", sampleServers(), func(o *Options) {
			o.CheckMethod = "HEAD"
			o.CheckInterval, o.FastInterval, o.DownInterval = 3*time.Second, 3*time.Second, 3*time.Second
			o.Rise, o.Fall = 2, 3
			o.CheckTimeout = 5 * time.Second
		}},
		{"limits and timeouts", sampleServers(), func(o *Options) {
			o.MaxConn, o.ServerMaxConn = 200, 100
			o.ConnectTimeout, o.ClientTimeout, o.ServerTimeout = 1500*time.Millisecond, time.Hour, 90*time.Minute
			o.HardStopAfter = 10 * time.Minute
		}},
		{"bind loopback", sampleServers(), func(o *Options) { o.BindAddress = "127.0.0.1" }},
		{"bind IPv6", sampleServers(), func(o *Options) { o.BindAddress = "::" }},
		{"runtime socket and state file", sampleServers(), func(o *Options) {
			o.StatsSocket = dir + "/admin.sock"
			o.ServerStateFile = dir + "/state"
		}},
		{"TLS checks verified", tlsServers, func(o *Options) { o.CheckCAFile = ca }},
		{"TLS checks forced, verified", sampleServers(), func(o *Options) { o.CheckTLS, o.CheckCAFile = true, ca }},
		{"TLS checks unverified", tlsServers, func(o *Options) { o.CheckInsecureSkipVerify = true }},
		{"everything", tlsServers, func(o *Options) {
			o.SyncPort = 5002
			o.MaxReplicaLagBytes = 1
			o.ReadOnlyIncludePrimary = true
			o.CheckCAFile = ca
			o.ServerMaxConn = 50
			o.StatsSocket = dir + "/admin.sock"
			o.ServerStateFile = dir + "/state"
			o.HardStopAfter = time.Hour
			o.BindAddress = "127.0.0.1"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.opts(&o)
			cfg, err := Render(tt.servers, o)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if err := haproxyCheck(t, bin, dir, cfg); err != nil {
				t.Fatalf("haproxy rejected the rendered config: %v\n%s", err, cfg)
			}
			if err := checkShape(cfg, tt.servers, o); err != nil {
				t.Fatalf("shape: %v\n%s", err, cfg)
			}
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	o := DefaultOptions()
	o.ReadOnlyIncludePrimary = true
	want, err := Render(sampleServers(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(want), Header) {
		t.Fatalf("missing header:\n%s", want)
	}
	for i := range 20 {
		s := sampleServers()
		r := rand.New(rand.NewPCG(uint64(i), 1))
		r.Shuffle(len(s), func(a, b int) { s[a], s[b] = s[b], s[a] })
		got, err := Render(s, o)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("order %d rendered differently:\n%s\nwant:\n%s", i, got, want)
		}
	}
	// Names appear sorted in every listener.
	var names []string
	for _, l := range strings.Split(string(want), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "server" && !strings.HasSuffix(f[1], BackupSuffix) {
			names = append(names, f[1])
		}
	}
	if got := strings.Join(names[:5], ","); got != "pg-1,pg-2,pg6,pg_3.zone-a,pgdns" {
		t.Fatalf("server order %s", got)
	}
}

func TestRenderChecksAndTimings(t *testing.T) {
	o := DefaultOptions()
	o.MaxReplicaLagBytes = 1048576
	o.SyncPort = 5002
	cfg, err := Render(sampleServers(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    option httpchk GET /primary\n",
		"    option httpchk GET /replica?lag=1048576\n",
		"    option httpchk GET /sync\n",
		"    http-check expect status 200\n",
		"    default-server inter 500ms fastinter 250ms downinter 500ms rise 1 fall 2 on-marked-down shutdown-sessions",
		"    server pg6 [::1]:5433 check addr [::1] port 8010\n",
		"    server pg_3.zone-a localhost:6432 check addr 127.0.0.3 port 8009\n",
		"    timeout check 1s\n",
		"    bind :5000\n",
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("missing %q in\n%s", want, cfg)
		}
	}
}

// hostile are values that must never reach a configuration.
var hostile = []string{
	"", "a b", "a\nbind :80", "a\n", "\nserver x 1.2.3.4:1", "a#b", "#", "a\"b", "a'b", "a\\b", "a\tb", "a\rb",
	"a;b", "a$b", "${HOME}", "ünïcode", "a\x00b", "a/b", "a:b", "a@b", "ipv4@1.2.3.4", "..", ".",
	strings.Repeat("a", 300), "a b c", "bind\x0b:80", "пг1", "a\u2028b",
}

func TestRenderRejectsHostileServers(t *testing.T) {
	type mutate func(*Server, string)
	fields := map[string]mutate{
		"name":       func(s *Server, v string) { s.Name = v },
		"host":       func(s *Server, v string) { s.Host = v },
		"check host": func(s *Server, v string) { s.CheckHost = v },
	}
	for field, set := range fields {
		for _, v := range hostile {
			if field == "check host" && v == "" {
				continue // empty check host means "same as host"
			}
			s := Server{Name: "ok", Host: "127.0.0.1", Port: 5432, CheckPort: 8008}
			set(&s, v)
			cfg, err := Render([]Server{{Name: "good", Host: "10.0.0.1", Port: 5432, CheckPort: 8008}, s}, DefaultOptions())
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Errorf("%s=%q: err = %v, want a FieldError", field, v, err)
				continue
			}
			if fe.Field != field {
				t.Errorf("%s=%q: error names field %q: %v", field, v, fe.Field, err)
			}
			if cfg != nil {
				t.Errorf("%s=%q: output returned with error", field, v)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("%s=%q: error message contains a raw newline: %q", field, v, err)
			}
		}
	}
	for _, tt := range []struct {
		s     Server
		field string
	}{
		{Server{Name: "p", Host: "127.0.0.1", Port: 0, CheckPort: 8008}, "port"},
		{Server{Name: "p", Host: "127.0.0.1", Port: 65536, CheckPort: 8008}, "port"},
		{Server{Name: "p", Host: "127.0.0.1", Port: -1, CheckPort: 8008}, "port"},
		{Server{Name: "p", Host: "127.0.0.1", Port: 5432, CheckPort: 0}, "check port"},
		{Server{Name: "p", Host: "fe80::1%eth0", Port: 5432, CheckPort: 8008}, "host"},
		{Server{Name: "p", Host: "10.0.0.256", Port: 5432, CheckPort: 8008}, "host"},
		{Server{Name: "p", Host: "-a.example", Port: 5432, CheckPort: 8008}, "host"},
		{Server{Name: "p", Host: "a..b", Port: 5432, CheckPort: 8008}, "host"},
		{Server{Name: "p", Host: "127.0.0.1", Port: 5432, CheckPort: 8008, CheckTLS: true}, "api_url"},
	} {
		_, err := Render([]Server{tt.s}, DefaultOptions())
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Member != "p" {
			t.Errorf("%+v: err = %v, want FieldError for member p field %s", tt.s, err, tt.field)
		}
	}
	dup := []Server{{Name: "p", Host: "127.0.0.1", Port: 1, CheckPort: 2}, {Name: "p", Host: "127.0.0.2", Port: 1, CheckPort: 2}}
	if _, err := Render(dup, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate names: err = %v", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		field string
		set   func(*Options)
	}{
		{"BindAddress", func(o *Options) { o.BindAddress = "0.0.0.0\nlisten x" }},
		{"ReadWritePort", func(o *Options) { o.ReadWritePort = 70000 }},
		{"ReadOnlyPort", func(o *Options) { o.ReadOnlyPort = o.ReadWritePort }},
		{"ReadWritePort", func(o *Options) { o.ReadWritePort, o.ReadOnlyPort = 0, 0 }},
		{"ReadOnlyIncludePrimary", func(o *Options) { o.ReadOnlyIncludePrimary, o.ReadWritePort = true, 0 }},
		{"MaxReplicaLagBytes", func(o *Options) { o.MaxReplicaLagBytes = -1 }},
		{"CheckMethod", func(o *Options) { o.CheckMethod = "GET /x HTTP/1.0\r\nHost: a" }},
		{"CheckInterval", func(o *Options) { o.CheckInterval = time.Millisecond }},
		{"FastInterval", func(o *Options) { o.FastInterval = 1500 * time.Microsecond }},
		{"Rise", func(o *Options) { o.Rise = -1 }},
		{"Fall", func(o *Options) { o.Fall = 1000 }},
		{"MaxConn", func(o *Options) { o.MaxConn = -5 }},
		{"ServerMaxConn", func(o *Options) { o.ServerMaxConn = -5 }},
		{"CheckCAFile", func(o *Options) { o.CheckCAFile = "/etc/ssl/ca file.pem" }},
		{"CheckCAFile", func(o *Options) { o.CheckCAFile = "relative.pem" }},
		{"CheckCAFile", func(o *Options) { o.CheckCAFile = "/ca.pem\n    server evil 1.2.3.4:5" }},
		{"CheckCAFile", func(o *Options) { o.CheckTLS = true }},
		{"CheckInsecureSkipVerify", func(o *Options) { o.CheckCAFile, o.CheckInsecureSkipVerify = "/ca.pem", true }},
		{"StatsSocket", func(o *Options) { o.StatsSocket = "/run/haproxy#.sock" }},
		{"StatsSocket", func(o *Options) { o.StatsSocket = "/" + strings.Repeat("s", 120) }},
		{"ServerStateFile", func(o *Options) { o.ServerStateFile = "/var/lib/\"state\"" }},
		{"HardStopAfter", func(o *Options) { o.HardStopAfter = time.Millisecond }},
		{"ClientTimeout", func(o *Options) { o.ClientTimeout = 48 * time.Hour }},
	}
	for _, tt := range tests {
		o := DefaultOptions()
		tt.set(&o)
		_, err := Render(sampleServers(), o)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Member != "" {
			t.Errorf("%s: err = %v", tt.field, err)
		}
	}
}

func TestServersFromMembers(t *testing.T) {
	members := []*dcs.Member{
		{Name: "good", ConnURL: "postgres://127.0.0.1:5433/postgres", APIURL: "http://127.0.0.1:8009/patroni"},
		{Name: "defaults", ConnURL: "postgres://10.0.0.2/postgres", APIURL: "http://10.0.0.3/patroni"},
		{Name: "v6tls", ConnURL: "postgresql://u:p@[::1]:5432/db", APIURL: "https://[::1]:8443/patroni"},
		nil,
		{Name: "bad name\nbind :1", ConnURL: "postgres://127.0.0.1:5432", APIURL: "http://127.0.0.1:8008"},
		{Name: "noconn", APIURL: "http://127.0.0.1:8008"},
		{Name: "badconn", ConnURL: "postgres://%zz:5432", APIURL: "http://127.0.0.1:8008"},
		{Name: "badport", ConnURL: "postgres://127.0.0.1:99999", APIURL: "http://127.0.0.1:8008"},
		{Name: "noapi", ConnURL: "postgres://127.0.0.1:5432"},
		{Name: "hostile", ConnURL: "postgres://a%0Abind:5432", APIURL: "http://127.0.0.1:8008"},
		{Name: "hostile2", ConnURL: "postgres://127.0.0.1:5432", APIURL: "http://a b:8008/"},
		{Name: "nohost", ConnURL: "/var/run/postgresql", APIURL: "http://127.0.0.1:8008"},
	}
	servers, err := ServersFromMembers(members)
	want := []Server{
		{Name: "good", Host: "127.0.0.1", Port: 5433, CheckPort: 8009},
		{Name: "defaults", Host: "10.0.0.2", Port: 5432, CheckHost: "10.0.0.3", CheckPort: 8008},
		{Name: "v6tls", Host: "::1", Port: 5432, CheckPort: 8443, CheckTLS: true},
	}
	if len(servers) != len(want) {
		t.Fatalf("servers = %+v", servers)
	}
	for i := range want {
		if servers[i] != want[i] {
			t.Errorf("server %d = %+v, want %+v", i, servers[i], want[i])
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, name := range []string{"noconn", "badconn", "badport", "noapi", "hostile", "hostile2", "nohost", `bad name\nbind :1`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name member %s: %v", name, err)
		}
	}
	o := DefaultOptions()
	o.CheckInsecureSkipVerify = true
	cfg, rerr := Render(servers, o)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if strings.Contains(string(cfg), "bind :1") || strings.Contains(string(cfg), "hostile") {
		t.Fatalf("hostile member reached the config:\n%s", cfg)
	}
}
