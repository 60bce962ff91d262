package consul_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/testutil"
)

// electionOpts are short timings for tests (the agents' session_ttl_min is
// 1s). The session TTL is the election TTL, so a holder's deadline (sent +
// TTL − Margin) is before the earliest moment Consul may delete its key.
var electionOpts = election.Options{
	TTL:               3 * time.Second,
	KeepAliveInterval: 300 * time.Millisecond,
	RequestTimeout:    500 * time.Millisecond,
	Margin:            500 * time.Millisecond,
	RetryInterval:     300 * time.Millisecond,
	Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
}

func newCandidate(t *testing.T, s dcs.Store, name string) *election.Candidate {
	t.Helper()
	c, err := election.New(s, name, electionOpts)
	if err != nil {
		t.Fatalf("election.New(%s): %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawLeader reads the leader key with the plain Consul API, as vip-manager
// or patronictl would: at "service/<scope>/leader", the bare member name.
func rawLeader(t *testing.T, a *testutil.Consul, scope string) *api.KVPair {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, _, err := c.KV().Get("service/"+scope+"/leader", (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		t.Fatalf("raw read of the leader key: %v", err)
	}
	return p
}

// TestElection runs the election package unchanged on Consul: campaign,
// keepalive past several TTLs, a guarded write, resign, handover to the
// waiting candidate.
func TestElection(t *testing.T) {
	a := testutil.StartConsul(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const scope = "election"
	sa := newStore(t, consul.Config{Address: a.Addr(), Scope: scope})
	sb := newStore(t, consul.Config{Address: a.Addr(), Scope: scope})
	ca, cb := newCandidate(t, sa, "a"), newCandidate(t, sb, "b")

	ta, err := ca.Campaign(ctx)
	if err != nil {
		t.Fatalf("Campaign(a): %v", err)
	}
	p := rawLeader(t, a, scope)
	if p == nil || string(p.Value) != "a" || int64(p.CreateIndex) != ta.Token() {
		t.Fatalf("raw leader key = %+v, want value a created at %d", p, ta.Token())
	}

	won := make(chan *election.Term, 1)
	go func() {
		tb, err := cb.Campaign(ctx)
		if err != nil {
			t.Errorf("Campaign(b): %v", err)
		}
		won <- tb
	}()

	// Hold the term across three session TTLs: keepalives (session renews)
	// keep the key; b must not win meanwhile.
	hold := time.NewTimer(3 * electionOpts.TTL)
	defer hold.Stop()
	select {
	case <-hold.C:
	case <-ta.Done():
		t.Fatalf("term of a ended while held: %v", ta.Err())
	case tb := <-won:
		t.Fatalf("b won (%+v) while a held the term", tb.Leader())
	}
	if !ta.Valid(time.Now()) {
		t.Fatal("term of a not valid after keepalives")
	}
	if _, err := ta.Put(ctx, dcs.KeySync, []byte(`{"leader":"a"}`), dcs.Cond{}); err != nil {
		t.Fatalf("guarded write by the holder: %v", err)
	}

	if err := ta.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	var tb *election.Term
	select {
	case tb = <-won:
	case <-ctx.Done():
		t.Fatal("b never won after a resigned")
	}
	if tb == nil {
		t.Fatal("b's campaign failed")
	}
	if tb.Token() <= ta.Token() {
		t.Fatalf("b's token %d not above a's %d", tb.Token(), ta.Token())
	}
	if p := rawLeader(t, a, scope); p == nil || string(p.Value) != "b" {
		t.Fatalf("raw leader key after handover = %+v, want b", p)
	}
	// The old term is fenced off.
	if _, err := ta.Put(ctx, dcs.KeySync, []byte(`{"leader":"a"}`), dcs.Cond{}); err == nil {
		t.Fatal("write on behalf of the resigned term succeeded")
	} else if !errors.Is(err, dcs.ErrConflict) {
		t.Fatalf("write by the resigned term = %v, want a conflict", err)
	}
}
