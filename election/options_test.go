package election

import (
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestOptionsValidate(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" means valid
	}{
		{"defaults", Options{}, ""},
		{"ttl only scales everything", Options{TTL: 30 * s}, ""},
		{"short test timings", Options{TTL: 2 * s, KeepAliveInterval: 300 * time.Millisecond, RequestTimeout: 500 * time.Millisecond, Margin: 400 * time.Millisecond}, ""},
		{"ttl below minimum", Options{TTL: 500 * time.Millisecond}, "below the minimum"},
		{"negative interval", Options{KeepAliveInterval: -s}, "negative"},
		{"margin too small", Options{TTL: 10 * s, Margin: 500 * time.Millisecond}, "below TTL/10"},
		{"margin not shorter than ttl", Options{TTL: 2 * s, Margin: 2 * s}, "shorter than TTL"},
		{"keepalive too slow", Options{TTL: 6 * s, KeepAliveInterval: 2500 * time.Millisecond, RequestTimeout: s, Margin: s}, "single lost keepalive"},
		{"request timeout too long", Options{TTL: 6 * s, KeepAliveInterval: s, RequestTimeout: 2500 * time.Millisecond, Margin: s}, "single lost keepalive"},
		{"boundary is allowed", Options{TTL: 6 * s, KeepAliveInterval: s, RequestTimeout: 2 * s, Margin: s}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDefaultsFollowRule(t *testing.T) {
	o := Options{}.withDefaults()
	if o.TTL != DefaultTTL || o.KeepAliveInterval != DefaultKeepAliveInterval || o.RequestTimeout != DefaultRequestTimeout ||
		o.Margin != DefaultMargin || o.RetryInterval != DefaultRetryInterval {
		t.Fatalf("withDefaults() = %+v, want the documented defaults", o)
	}
	// How many consecutive lost keepalives a healthy holder absorbs.
	k := 0
	for time.Duration(k+1)*o.KeepAliveInterval+o.RequestTimeout < o.TTL-o.Margin {
		k++
	}
	t.Logf("defaults: ttl=%v keepalive=%v timeout=%v margin=%v: %d consecutive failed keepalives absorbed", o.TTL, o.KeepAliveInterval, o.RequestTimeout, o.Margin, k)
	if k < 2 {
		t.Fatalf("defaults absorb only %d lost keepalives", k)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		store dcs.Store
		cand  string
		o     Options
	}{
		{"nil store", nil, "a", Options{}},
		{"empty name", newMemStore(t), "", Options{}},
		{"name with slash", newMemStore(t), "a/b", Options{}},
		{"bad options", newMemStore(t), "a", Options{TTL: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.store, tt.cand, tt.o)
			if err == nil {
				c.Close()
				t.Fatal("New succeeded, want error")
			}
		})
	}
}
