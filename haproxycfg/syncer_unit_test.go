package haproxycfg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/internal/testutil"
)

// fakeReloader records what a Syncer applies, validating with the real
// haproxy -c.
type fakeReloader struct {
	bin, path string

	mu      sync.Mutex
	reloads int
	fail    error
	applied []byte
}

func (f *fakeReloader) Validate(ctx context.Context, path string) error {
	return Validate(ctx, f.bin, path)
}

func (f *fakeReloader) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.reloads++
	b, err := os.ReadFile(f.path)
	f.applied = b
	return err
}

func TestSyncerResyncAndRetry(t *testing.T) {
	dir := shortDir(t)
	mc := memory.NewCluster(memory.ClusterOptions{})
	t.Cleanup(func() { _ = mc.Close() })
	// A one-event watch buffer forces resync snapshots under bursts.
	store := mc.Store(dcs.Prefix("", "resync"), memory.StoreOptions{WatchBuffer: 1})
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	rl := &fakeReloader{bin: haproxyBin(t), path: cfgPath, fail: errors.New("reload refused")}
	opts := DefaultOptions()
	s, err := NewSyncer(store, SyncerOptions{Render: opts, ConfigPath: cfgPath, Reloader: rl, RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	put := func(name string, i int) {
		m := &dcs.Member{Name: name, ConnURL: fmt.Sprintf("postgres://10.0.0.%d:5432/x", i), APIURL: fmt.Sprintf("http://10.0.0.%d:8008/patroni", i)}
		if _, err := store.Put(context.Background(), dcs.MemberKey(name), m.Encode(), 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 1)
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := s.Status(); st.Err == nil {
			return fmt.Errorf("no error reported: %+v", st)
		}
		return nil
	}, "failed reload is reported")

	rl.mu.Lock()
	rl.fail = nil
	rl.mu.Unlock()
	var want []string
	for i := range 40 {
		name := fmt.Sprintf("m%02d", i)
		put(name, i+2)
		want = append(want, name)
	}
	if err := store.Delete(context.Background(), dcs.MemberKey("m05"), dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(append([]string{"a"}, want...), func(n string) bool { return n == "m05" })
	testutil.Eventually(t, 10*time.Second, func() error {
		st := s.Status()
		if st.Err != nil || !slices.Equal(st.Servers, want) {
			return fmt.Errorf("status %+v", st)
		}
		rl.mu.Lock()
		defer rl.mu.Unlock()
		if strings.Contains(string(rl.applied), "server m05 ") || !strings.Contains(string(rl.applied), "server m39 10.0.0.41:5432") {
			return fmt.Errorf("applied config not current")
		}
		return nil
	}, "syncer converges after a failed reload and watch resyncs")
}

func TestNewServersDown(t *testing.T) {
	o := DefaultOptions()
	o.ReadOnlyIncludePrimary = true
	cfg, err := Render([]Server{
		{Name: "old", Host: "10.0.0.1", Port: 5432, CheckPort: 8008},
		{Name: "new", Host: "::1", Port: 5433, CheckPort: 8009},
		{Name: "dns", Host: "db.example.com", Port: 5432, CheckPort: 8008},
	}, o)
	if err != nil {
		t.Fatal(err)
	}
	known := []ServerState{{Backend: ProxyPrimary, Server: "old"}, {Backend: ProxyReplicas, Server: "old"}}
	got := newServersDown(string(cfg), known)
	want := "0 primary 0 new ::1 0 0 1 1 0 8 2 0 6 0 0 0 - 5433 - 0 8009 - - 0\n" +
		"0 replicas 0 new ::1 0 0 1 1 0 8 2 0 6 0 0 0 - 5433 - 0 8009 - - 0\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	states, err := parseServersState("1\n# header\n" + got)
	if err != nil || len(states) != 2 || states[0].Up || states[0].Server != "new" {
		t.Fatalf("round trip: %+v, %v", states, err)
	}
}

func TestProcessErrors(t *testing.T) {
	bin := haproxyBin(t)
	dir := shortDir(t)
	if _, err := NewProcess(ProcessConfig{Bin: bin, ConfigPath: "relative.cfg", StatsSocket: dir + "/s"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("relative config path: %v", err)
	}
	if _, err := NewProcess(ProcessConfig{Bin: bin, ConfigPath: dir + "/h.cfg"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing stats socket: %v", err)
	}
	cfgPath := filepath.Join(dir, "h.cfg")
	if err := os.WriteFile(cfgPath, []byte("global\n    no-such-keyword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Validate(context.Background(), bin, cfgPath); err == nil || !strings.Contains(err.Error(), "no-such-keyword") {
		t.Errorf("Validate of a bad config: %v", err)
	}
	p, err := NewProcess(ProcessConfig{Bin: bin, ConfigPath: cfgPath, StatsSocket: filepath.Join(dir, "s.sock")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Reload before Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Start(ctx); err == nil {
		t.Fatal("Start with an invalid config succeeded")
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Stop after a failed start: %v", err)
	}
	if _, err := RuntimeCommand(ctx, filepath.Join(dir, "s.sock"), "show info; shutdown frontend x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("command with ';': %v", err)
	}
}
