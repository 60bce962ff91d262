package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/client"
)

// switchoverManager is the smallest healthapi.Manager that answers a
// switchover; the failover.Controller is the real one.
type switchoverManager struct{ healthapi.Manager }

func (switchoverManager) Switchover(_ context.Context, req healthapi.SwitchoverRequest) (healthapi.Result, error) {
	return healthapi.Result{Message: fmt.Sprintf("Successfully switched over to %q", req.Candidate)}, nil
}

// A member's REST API, served by healthapi's handler, asked for its status
// and for a switchover; wrong credentials are an error to branch on.
func Example() {
	var state healthapi.StateCache
	state.Store(&healthapi.NodeState{Name: "n1", Scope: "batman", Role: dcs.RolePrimary,
		PGState: dcs.StateRunning, Timeline: 2, XLogLocation: 0x3000060, IsLeader: true})
	h, err := healthapi.New(healthapi.Options{Source: &state, Manager: switchoverManager{},
		Auth: healthapi.Auth{Username: "admin", Password: "secret"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The member's api_url, as published in its member key.
	apiURL := srv.URL + "/patroni"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := client.New(apiURL, client.Options{Auth: &healthapi.BasicAuth{Username: "admin", Password: "secret"}})
	if err != nil {
		panic(err)
	}
	st, err := c.Patroni(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Patroni.Name, st.Role, st.State, "timeline", st.Timeline, "at", healthapi.FormatLSN(*st.XLog.Location))

	r, err := c.Switchover(ctx, client.SwitchoverRequest{Leader: "n1", Candidate: "n2"})
	fmt.Println(r.StatusCode, r.Message, err)

	anon, _ := client.New(apiURL, client.Options{})
	_, err = anon.Switchover(ctx, client.SwitchoverRequest{Leader: "n1", Candidate: "n2"})
	var he *client.HTTPError
	if errors.Is(err, client.ErrUnauthorized) && errors.As(err, &he) {
		fmt.Println("refused:", he.StatusCode, he.Message)
	}
	// Output:
	// n1 primary running timeline 2 at 0/3000060
	// 200 Successfully switched over to "n2" <nil>
	// refused: 401 no auth header received
}
