package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/metrics"
)

// fixedState is a StateSource with one snapshot; the Controller is the
// StateSource of a real node.
type fixedState struct{ s *healthapi.NodeState }

func (f fixedState) State() *healthapi.NodeState { return f.s }

// An Exporter computes Patroni's metrics from the node's state at each
// scrape; healthapi.Options.Metrics serves it at GET /metrics.
func Example() {
	src := fixedState{&healthapi.NodeState{
		Name: "node1", Scope: "batman",
		Role: dcs.RolePrimary, PGState: dcs.StateRunning,
		IsLeader: true, XLogLocation: 50331648, Timeline: 2,
	}}
	exp, err := metrics.New(src, metrics.Options{Version: "4.0.2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := httptest.NewRecorder()
	exp.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		for _, m := range []string{"patroni_primary{", "patroni_xlog_location{", "patroni_postgres_timeline{", "patroni_version{"} {
			if strings.HasPrefix(sc.Text(), m) {
				fmt.Println(sc.Text())
			}
		}
	}
	// Output:
	// patroni_postgres_timeline{name="node1",scope="batman"} 2
	// patroni_primary{name="node1",scope="batman"} 1
	// patroni_version{name="node1",scope="batman"} 40002
	// patroni_xlog_location{name="node1",scope="batman"} 5.0331648e+07
}
