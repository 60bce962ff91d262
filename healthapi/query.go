package healthapi

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadQuery is wrapped by errors about health-check query parameters.
var ErrBadQuery = errors.New("healthapi: bad query parameter")

// ParseLag parses a replication lag threshold as Patroni accepts it in
// ?lag=: a number of bytes, or a number followed by a PostgreSQL memory unit
// (B, kB, MB, GB, TB; base 1024; case-insensitive; optional space). The
// number may have a fraction ("1.5GB"); the result is rounded down.
func ParseLag(s string) (int64, error) {
	raw := s
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" {
		return 0, fmt.Errorf("%w: lag %.40q: want bytes or a size such as 16MB", ErrBadQuery, raw)
	}
	var mult float64
	switch unit {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1 << 10
	case "mb":
		mult = 1 << 20
	case "gb":
		mult = 1 << 30
	case "tb":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("%w: lag %.40q: unknown unit %.10q (use B, kB, MB, GB or TB)", ErrBadQuery, raw, unit)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err == nil && (mult == 1 || n <= math.MaxInt64/int64(mult)) {
			return n * int64(mult), nil
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: lag %.40q: %v", ErrBadQuery, raw, err)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%w: lag %.40q: too large", ErrBadQuery, raw)
	}
	return int64(v), nil
}

// healthQuery is the parsed query string of a health check.
type healthQuery struct {
	// maxLag is the ?lag= threshold; -1 when absent.
	maxLag int64
	// replicationState is ?replication_state=, "" when absent.
	replicationState string
	// tags are the ?tag_<k>=<v> filters.
	tags map[string]string
	// writeMode is ?mode=write (received rather than replayed lag) for
	// /readiness.
	writeMode bool
}

// parseHealthQuery parses the parameters every health path accepts. For a
// repeated parameter the first value counts, as in Patroni.
func parseHealthQuery(q url.Values) (healthQuery, error) {
	hq := healthQuery{maxLag: -1}
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch {
		case k == "lag":
			n, err := ParseLag(v)
			if err != nil {
				return hq, err
			}
			hq.maxLag = n
		case k == "replication_state":
			hq.replicationState = v
		case k == "mode":
			switch v {
			case "apply", "":
			case "write":
				hq.writeMode = true
			default:
				return hq, fmt.Errorf("%w: mode %.40q: want apply or write", ErrBadQuery, v)
			}
		case strings.HasPrefix(k, "tag_") && len(k) > len("tag_"):
			if hq.tags == nil {
				hq.tags = make(map[string]string)
			}
			hq.tags[k[len("tag_"):]] = v
		}
	}
	return hq, nil
}
