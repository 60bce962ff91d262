package localcluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) Ack {
		return Ack{At: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	acks := []Ack{at(0), at(10), at(20), at(900), at(910), at(2000), at(2010)}
	tests := []struct {
		name      string
		from, til int
		want      time.Duration
		ok        bool
	}{
		{"gap containing the fault", 15, 910, 880 * time.Millisecond, true},
		{"longest in the window", 5, 2010, 1090 * time.Millisecond, true},
		{"nothing after", 2010, 3000, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ok := LongestGap(acks, at(tt.from).At, at(tt.til).At)
			if ok != tt.ok || g.Duration() != tt.want {
				t.Errorf("LongestGap = %v, %v; want %v, %v", g.Duration(), ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	errNotYet := errors.New("not yet")
	tests := []struct {
		name    string
		okAfter int // calls before cond succeeds; -1 never
		wantErr bool
	}{
		{"at once", 0, false},
		{"after retries", 3, false},
		{"never", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tt.okAfter < 0 {
				var c2 context.CancelFunc
				ctx, c2 = context.WithTimeout(ctx, 50*time.Millisecond)
				defer c2()
			}
			calls := 0
			err := Poll(ctx, time.Millisecond, func() error {
				calls++
				if tt.okAfter >= 0 && calls > tt.okAfter {
					return nil
				}
				return errNotYet
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Poll = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && (!errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errNotYet)) {
				t.Errorf("Poll = %v, want it to wrap the deadline and the last failure", err)
			}
			if !tt.wantErr && calls != tt.okAfter+1 {
				t.Errorf("cond called %d times, want %d", calls, tt.okAfter+1)
			}
		})
	}
}
