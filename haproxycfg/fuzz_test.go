package haproxycfg

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

var (
	serverLineRE = regexp.MustCompile(`^    server [A-Za-z0-9._-]{1,128} (\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]{1,253}):[0-9]{1,5} check( addr (\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]{1,253}))? port [0-9]{1,5}( check-ssl (verify none|verify required ca-file /[A-Za-z0-9/._+,=@~:-]+( check-sni [A-Za-z0-9._-]{1,253})?))?$`)
	backupLineRE = regexp.MustCompile(`^    server ([A-Za-z0-9._-]{1,128}):primary (\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]{1,253}):[0-9]{1,5} backup track primary/([A-Za-z0-9._-]{1,128})$`)
)

// checkShape verifies that cfg is the server-less skeleton for o plus, in
// each listener, exactly one well-formed server line per server (and one
// backup line per server where configured), and nothing else.
func checkShape(cfg []byte, servers []Server, o Options) error {
	skeleton, err := Render(nil, o)
	if err != nil {
		return fmt.Errorf("skeleton: %w", err)
	}
	var rest []string
	servLines, backupLines := 0, 0
	for _, l := range strings.Split(string(cfg), "\n") {
		switch {
		case serverLineRE.MatchString(l):
			servLines++
		case backupLineRE.MatchString(l):
			m := backupLineRE.FindStringSubmatch(l)
			if m[1] != m[3] {
				return fmt.Errorf("backup line tracks another server: %q", l)
			}
			backupLines++
		case strings.HasPrefix(strings.TrimSpace(l), "server "):
			return fmt.Errorf("malformed server line %q", l)
		default:
			rest = append(rest, l)
		}
	}
	if got := strings.Join(rest, "\n"); got != string(skeleton) {
		return fmt.Errorf("non-server lines differ from the skeleton:\n%s\n--- skeleton:\n%s", got, skeleton)
	}
	o = o.withDefaults()
	listeners := 0
	for _, p := range []int{o.ReadWritePort, o.ReadOnlyPort, o.SyncPort} {
		if p != 0 {
			listeners++
		}
	}
	if servLines != listeners*len(servers) {
		return fmt.Errorf("%d server lines, want %d", servLines, listeners*len(servers))
	}
	wantBackups := 0
	if o.ReadOnlyIncludePrimary {
		wantBackups = len(servers)
	}
	if backupLines != wantBackups {
		return fmt.Errorf("%d backup lines, want %d", backupLines, wantBackups)
	}
	return nil
}

func FuzzRender(f *testing.F) {
	f.Add("pg1", "127.0.0.1", "", 5432, 8008, false)
	f.Add("pg-2.a_b", "db.example.com", "10.0.0.1", 1, 65535, true)
	f.Add("x\nbind :80", "1.2.3.4", "", 5432, 8008, false)
	f.Add("ok", "::1", "fe80::1", 5432, 8008, false)
	f.Add("ok", "a b", "#c", 0, 70000, false)
	f.Add("bind", "host\r\nlisten evil", "\"", 5432, 8008, true)
	f.Add("ok", "127.0.0.1", "", 5432, 8008, true)
	f.Fuzz(func(t *testing.T, name, host, checkHost string, port, checkPort int, tls bool) {
		o := DefaultOptions()
		o.SyncPort = 5002
		o.ReadOnlyIncludePrimary = true
		o.CheckCAFile = "/etc/ssl/certs/ca-certificates.crt"
		servers := []Server{
			{Name: "fixed", Host: "10.1.1.1", Port: 5432, CheckPort: 8008},
			{Name: name, Host: host, Port: port, CheckHost: checkHost, CheckPort: checkPort, CheckTLS: tls},
		}
		cfg, err := Render(servers, o)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if cfg != nil {
				t.Fatal("output together with an error")
			}
			return
		}
		if err := checkShape(cfg, servers, o); err != nil {
			t.Fatalf("%v\n%s", err, cfg)
		}
	})
}
