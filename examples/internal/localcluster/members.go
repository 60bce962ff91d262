package localcluster

import (
	"context"

	"github.com/pgha/pgha/examples/internal/listing"
)

// Members returns the members in the DCS as `pgha-ctl list` computes
// them (listing.Members), sorted by name. listing.WriteMembers prints the
// table.
func (c *Cluster) Members(ctx context.Context) ([]listing.Member, error) {
	cl, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return listing.Members(cl), nil
}
