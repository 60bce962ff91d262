package pg

import "testing"

func TestSettingValue(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want string
		ok   bool
	}{
		{"8MB", "8MB", true}, {true, "on", true}, {false, "off", true}, {float64(100), "100", true}, {0.5, "0.5", true},
		{int(10), "10", true}, {int64(-3), "-3", true}, {uint16(7), "7", true}, {[]any{1}, "", false}, {nil, "", false},
	} {
		got, ok := SettingValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SettingValue(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
