package localcluster

import (
	"testing"
	"time"
)

func TestParseSwitchPoint(t *testing.T) {
	tests := []struct {
		history string
		want    int64
		wantErr bool
	}{
		{"1\t0/5000148\tno recovery target specified\n", 0x5000148, false},
		{"1\t0/3000060\tno recovery target specified\n\n2\t1/A0000D8\tno recovery target specified\n", 0x10A0000D8, false},
		{"", 0, true},
		{"1\tnot-an-lsn\treason\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSwitchPoint(tt.history, 3)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSwitchPoint(%q) = %#x, %v; want %#x, error %v", tt.history, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWALBefore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	marks := []WALMark{{t0, 10}, {t0.Add(time.Second), 20}, {t0.Add(2 * time.Second), 30}}
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{t0, 0},
		{t0.Add(time.Millisecond), 10},
		{t0.Add(1500 * time.Millisecond), 20},
		{t0.Add(time.Hour), 30},
	} {
		if got := WALBefore(marks, tt.at); got != tt.want {
			t.Errorf("WALBefore(%v) = %d, want %d", tt.at.Sub(t0), got, tt.want)
		}
	}
}
