package consul

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
)

// ErrTTLTooShort is returned (wrapped) by Grant when the requested TTL is
// below the agent's session_ttl_min (10 s unless configured otherwise).
var ErrTTLTooShort = errors.New("consul: ttl below the agent's session_ttl_min")

// wrap maps a Consul client error to the dcs sentinels: anything that is not
// a definite answer from Consul (deadline, refused or reset connection,
// 5xx, 429, a body that is not Consul's) is ErrUnavailable, because the
// operation may or may not have happened. Definite client errors (4xx, such
// as an ACL denial) are returned as they are.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se api.StatusError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != 429 {
		return fmt.Errorf("consul: %s: %w", op, err)
	}
	if msg := err.Error(); strings.Contains(msg, "Permission denied") || strings.Contains(msg, "ACL not found") {
		return fmt.Errorf("consul: %s: %w", op, err)
	}
	return fmt.Errorf("consul: %s: %w: %w", op, dcs.ErrUnavailable, err)
}
