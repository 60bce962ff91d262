package failover

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/pgha/pgha/dcs"
)

// checkEncodable reports what in c [dcs.ClusterConfig.Encode] would
// silently drop (an Extra value that is not JSON) or refuse (a non-finite
// number, a parameter that does not marshal), so that a bad
// ControllerOptions.BootstrapConfig is an error at start.
func checkEncodable(c *dcs.ClusterConfig) error {
	var errs []error
	for name, v := range map[string]*float64{"ttl": c.TTL, "loop_wait": c.LoopWait, "retry_timeout": c.RetryTimeout,
		"primary_start_timeout": c.PrimaryStartTimeout, "primary_stop_timeout": c.PrimaryStopTimeout} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			errs = append(errs, fmt.Errorf("%s: must be a finite number, got %v", name, *v))
		}
	}
	extra := func(prefix string, m map[string]json.RawMessage) {
		for k, v := range m {
			if !json.Valid(v) {
				errs = append(errs, fmt.Errorf("%s%s: not valid JSON: %.40q", prefix, k, v))
			}
		}
	}
	extra("", c.Extra)
	if p := c.Postgresql; p != nil {
		extra("postgresql.", p.Extra)
		if _, err := json.Marshal(p.Parameters); err != nil {
			errs = append(errs, fmt.Errorf("postgresql.parameters: %w", err))
		}
	}
	return errors.Join(errs...)
}
