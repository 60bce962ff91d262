package etcdembed_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/pgha/pgha/internal/etcdembed"
	"github.com/pgha/pgha/internal/testutil"
)

// TestStartSingleMember starts a real one-member cluster, waits for it and
// finds it leader, then hard-stops it.
func TestStartSingleMember(t *testing.T) {
	ports := testutil.FreePorts(t, 2)
	m := etcdembed.Member{
		Name:      "solo",
		Dir:       filepath.Join(t.TempDir(), "solo"),
		ClientURL: etcdembed.LoopbackURL(ports[0]),
		PeerURL:   etcdembed.LoopbackURL(ports[1]),
	}
	e, err := etcdembed.Start(m, etcdembed.InitialCluster([]etcdembed.Member{m}), "tok")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			etcdembed.HardStop(e)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := etcdembed.WaitReady(ctx, e, 20*time.Second); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := etcdembed.Leader([]*embed.Etcd{e})
		return err
	}, "single member leads")
	etcdembed.HardStopAll([]*embed.Etcd{e})
	stopped = true
	select {
	case <-e.Server.StopNotify():
	default:
		t.Fatal("server still running after HardStopAll")
	}
}
