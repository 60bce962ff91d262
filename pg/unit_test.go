package pg

import (
	"strings"
	"testing"
)

func TestLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LSN
		err  bool
	}{
		{"0/3000060", 0x3000060, false},
		{"16/B374D848", 0x16B374D848, false},
		{"0/0", 0, false},
		{"FFFFFFFF/FFFFFFFF", LSN(^uint64(0)), false},
		{"0/03000028", 0x3000028, false},
		{"", 0, true},
		{"3000060", 0, true},
		{"0/", 0, true},
		{"x/1", 0, true},
		{"100000000/0", 0, true},
	} {
		got, err := ParseLSN(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v", tc.in, got, err)
		}
	}
	if s := LSN(0x16B374D848).String(); s != "16/B374D848" {
		t.Errorf("String = %s", s)
	}
	if LSN(0x3000060).Int64() != 50331744 {
		t.Error("Int64")
	}
}

func TestSlotName(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                 "node1",
		"Node-A.dc1":            "node_a_dc1",
		"pg@host":               "pgu0064host",
		"ü":                     "u0252",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := SlotName(in); got != want {
			t.Errorf("SlotName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSyncStandbys(t *testing.T) {
	for _, tc := range []struct {
		in   SyncStandbys
		want string
		err  bool
	}{
		{SyncStandbys{}, "", false},
		{SyncStandbys{Num: 1, Names: []string{"a"}}, `FIRST 1 ("a")`, false},
		{SyncStandbys{Method: SyncAny, Num: 2, Names: []string{"a", `b"c`, "d"}}, `ANY 2 ("a","b""c","d")`, false},
		{SyncStandbys{Num: 0, Names: []string{"a"}}, "", true},
		{SyncStandbys{Num: 2, Names: []string{"a"}}, "", true},
		{SyncStandbys{Method: "ALL", Num: 1, Names: []string{"a"}}, "", true},
		{SyncStandbys{Num: 1, Names: []string{""}}, "", true},
	} {
		err := tc.in.Validate()
		if (err != nil) != tc.err {
			t.Errorf("%+v: validate = %v", tc.in, err)
		}
		if err == nil && tc.in.String() != tc.want {
			t.Errorf("%+v: String = %q, want %q", tc.in, tc.in.String(), tc.want)
		}
	}
}
