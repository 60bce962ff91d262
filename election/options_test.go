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
		{"short test timings", Options{TTL: 3 * s, KeepAliveInterval: 300 * time.Millisecond, RequestTimeout: 500 * time.Millisecond, Margin: 500 * time.Millisecond}, ""},
		{"ttl below minimum", Options{TTL: 500 * time.Millisecond}, "below the minimum"},
		{"negative interval", Options{KeepAliveInterval: -s}, "negative"},
		{"margin too small", Options{TTL: 10 * s, Margin: 500 * time.Millisecond}, "below TTL/10"},
		{"margin not shorter than ttl", Options{TTL: 2 * s, Margin: 2 * s}, "shorter than TTL"},
		// 6 − 1 − 2×0.5 − 0.5 = 3.5 s < 3 × 1.5 s
		{"keepalive too slow", Options{TTL: 6 * s, KeepAliveInterval: 2 * s, RequestTimeout: 500 * time.Millisecond, Margin: s}, "rides out less than 3"},
		// 6 − 0.6 − 2×1.2 − 0.25 = 2.75 s < 3 s
		{"request timeout too long", Options{TTL: 6 * s, KeepAliveInterval: s, RequestTimeout: 1200 * time.Millisecond}, "rides out less than 3"},
		// 6 − 0.6 − 2×0.95 − 0.5 = 3 s: exactly three intervals
		{"boundary is allowed", Options{TTL: 6 * s, KeepAliveInterval: s, RequestTimeout: 950 * time.Millisecond, Margin: 850 * time.Millisecond}, ""},
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
	o := Options{}.WithDefaults()
	if o.TTL != DefaultTTL || o.KeepAliveInterval != DefaultKeepAliveInterval || o.RequestTimeout != DefaultRequestTimeout ||
		o.Margin != DefaultMargin || o.RetryInterval != DefaultRetryInterval {
		t.Fatalf("withDefaults() = %+v, want the documented defaults", o)
	}
	// The defaults ride out three failed keepalives with the failover
	// package's demote lead (600 ms) on top.
	tol := o.OutageTolerance(600 * time.Millisecond)
	t.Logf("defaults: ttl=%v keepalive=%v timeout=%v margin=%v: outage tolerance %v, %v with a 600ms demote lead",
		o.TTL, o.KeepAliveInterval, o.RequestTimeout, o.Margin, o.OutageTolerance(0), tol)
	if tol < 3*o.KeepAliveInterval {
		t.Fatalf("defaults ride out only %v (< 3 keepalive intervals) with a 600ms lead", tol)
	}
}

func TestRetryBackoff(t *testing.T) {
	o := Options{KeepAliveInterval: time.Second}
	want := []time.Duration{50, 100, 200, 250, 250}
	for i, w := range want {
		if got := o.RetryBackoff(i + 1); got != w*time.Millisecond {
			t.Errorf("RetryBackoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
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
