package pglocal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// waitReplicaOf waits until upstream lists the replica named app as streaming.
func waitReplicaOf(tb testing.TB, upstream *Local, app string) {
	tb.Helper()
	testutil.EventuallyEvery(tb, 60*time.Second, 5*time.Millisecond, func() error {
		st, err := upstream.Status(context.Background())
		if err != nil {
			return err
		}
		for _, r := range st.Replication {
			if r.ApplicationName == app && r.State == "streaming" {
				return nil
			}
		}
		return fmt.Errorf("%s not streaming from %s", app, upstream.cfg.Name)
	}, "replica %s of %s", app, upstream.cfg.Name)
}

// BenchmarkPromote measures a promotion from the Promote call until the
// first write on the new primary commits.
func BenchmarkPromote(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := bootstrapPrimary(b, fmt.Sprintf("bp%d", i))
		r := cloneReplica(b, p, fmt.Sprintf("br%d", i))
		mustExec(b, p, "CREATE TABLE t (id int)")
		waitStreaming(b, r, 1)
		if err := p.Stop(ctxT(b, 30*time.Second), pg.StopFast); err != nil {
			b.Fatal(err)
		}
		c := sqlConn(b, r)
		ctx := ctxT(b, 60*time.Second)
		b.StartTimer()
		start := time.Now()
		if _, err := r.Promote(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/promote-to-write")
}

// BenchmarkRepoint measures moving a running replica between two upstreams
// until the new upstream reports it streaming, by reload and by restart.
func BenchmarkRepoint(b *testing.B) {
	for _, restart := range []bool{false, true} {
		name := map[bool]string{false: "reload", true: "restart"}[restart]
		b.Run(name, func(b *testing.B) {
			p := bootstrapPrimary(b, "rp")
			c1 := cloneReplica(b, p, "rc1")
			c2 := cloneReplica(b, p, "rc2")
			ctx := ctxT(b, 10*time.Minute)
			targets := []*Local{c1, p}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				to := targets[i%2]
				if err := c2.Follow(ctx, pg.FollowConfig{Upstream: to.Upstream(), Restart: restart}); err != nil {
					b.Fatal(err)
				}
				waitReplicaOf(b, to, "rc2")
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/repoint")
		})
	}
}

// BenchmarkRewindVsReclone measures bringing back a former primary that
// wrote about 100 MB on its old timeline: by pg_rewind, and by re-clone.
func BenchmarkRewindVsReclone(b *testing.B) {
	var rewind, reclone time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx := ctxT(b, 10*time.Minute)
		old := bootstrapPrimary(b, fmt.Sprintf("old%d", i))
		mustExec(b, old, "CREATE TABLE base AS SELECT g, repeat('b', 100) AS pad FROM generate_series(1, 10000) g")
		nw := cloneReplica(b, old, fmt.Sprintf("new%d", i))
		waitStreaming(b, nw, 1)
		if err := old.Stop(ctx, pg.StopFast); err != nil {
			b.Fatal(err)
		}
		if _, err := nw.Promote(ctx); err != nil {
			b.Fatal(err)
		}
		if err := old.Start(ctx); err != nil {
			b.Fatal(err)
		}
		mustExec(b, old, "CREATE TABLE divergent AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 100000) g")
		if err := old.Stop(ctx, pg.StopFast); err != nil {
			b.Fatal(err)
		}
		follow := pg.FollowConfig{Upstream: nw.Upstream()}
		b.StartTimer()

		start := time.Now()
		if err := old.Rewind(ctx, nw.Upstream()); err != nil {
			b.Fatal(err)
		}
		if err := old.Follow(ctx, follow); err != nil {
			b.Fatal(err)
		}
		waitReplicaOf(b, nw, old.cfg.Name)
		rewind += time.Since(start)

		start = time.Now()
		if err := old.Stop(ctx, pg.StopFast); err != nil {
			b.Fatal(err)
		}
		if err := old.Clone(ctx, pg.CloneRequest{Upstream: nw.Upstream(), Replace: true}); err != nil {
			b.Fatal(err)
		}
		if err := old.Follow(ctx, follow); err != nil {
			b.Fatal(err)
		}
		waitReplicaOf(b, nw, old.cfg.Name)
		reclone += time.Since(start)
	}
	b.ReportMetric(float64(rewind.Milliseconds())/float64(b.N), "ms/rewind")
	b.ReportMetric(float64(reclone.Milliseconds())/float64(b.N), "ms/reclone")
}
