package healthapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
)

// The HA loop publishes a snapshot after each cycle; the handler answers
// health checks from whatever was published last.
func Example() {
	var state healthapi.StateCache
	h, err := healthapi.New(healthapi.Options{Source: &state})
	if err != nil {
		panic(err)
	}
	check := func(method, path string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		fmt.Println(method, path, w.Code)
	}

	check(http.MethodHead, "/primary") // nothing published yet

	state.Store(&healthapi.NodeState{
		Name: "n2", Scope: "batman",
		Role: dcs.RoleReplica, PGState: dcs.StateRunning,
		ReplicationState: dcs.ReplicationArchiveRecovery,
		LeaderLSN:        64 << 20, ReceivedLSN: 64 << 20, ReplayedLSN: 60 << 20,
	})
	check(http.MethodHead, "/primary")
	check(http.MethodHead, "/replica")            // Patroni's check: any running replica
	check(http.MethodHead, "/replica?lag=1MB")    // 4 MiB behind
	check(http.MethodHead, "/streaming")          // still replaying from the archive
	check(http.MethodGet, "/replica?lag=1parsec") // a typo is reported, not ignored
	// Output:
	// HEAD /primary 503
	// HEAD /primary 503
	// HEAD /replica 200
	// HEAD /replica?lag=1MB 503
	// HEAD /streaming 503
	// GET /replica?lag=1parsec 400
}
