package cmdline

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgha/pgha/examples/internal/buildinfo"
)

func TestParse(t *testing.T) {
	cmd := Command{Name: "pgha-x", Usage: "usage: pgha-x [-c FILE]", Manual: "NAME\n    pgha-x - test\n"}
	for _, tc := range []struct {
		name   string
		args   []string
		want   Args
		code   int
		done   bool
		stdout string // substring; "" means stdout must stay empty
		stderr string // substring; "" means stderr must stay empty
	}{
		{"nothing", nil, Args{}, ExitOK, false, "", ""},
		{"-c", []string{"-c", "a.yml"}, Args{Path: "a.yml"}, ExitOK, false, "", ""},
		{"argument", []string{"a.yml"}, Args{Path: "a.yml"}, ExitOK, false, "", ""},
		{"-check and argument", []string{"-check", "a.yml"}, Args{Path: "a.yml", Check: true}, ExitOK, false, "", ""},
		{"-c and argument", []string{"-c", "a.yml", "b.yml"}, Args{}, ExitUsage, true, "", `pgha-x: unexpected arguments ["b.yml"]`},
		{"two arguments", []string{"a.yml", "b.yml"}, Args{}, ExitUsage, true, "", "unexpected arguments"},
		{"--help", []string{"--help"}, Args{}, ExitOK, true, "NAME\n    pgha-x - test", ""},
		{"-h wins over the rest", []string{"-c", "/nonexistent.yml", "-h"}, Args{}, ExitOK, true, "NAME", ""},
		{"--version", []string{"--version"}, Args{}, ExitOK, true, "pgha-x " + buildinfo.Version() + "\n", ""},
		{"--version with -c", []string{"--version", "-c", "a.yml"}, Args{}, ExitOK, true, "pgha-x ", ""},
		{"unknown flag", []string{"--bogus"}, Args{}, ExitUsage, true, "", "flag provided but not defined: -bogus\nusage: pgha-x [-c FILE]\nTry 'pgha-x --help'"},
		{"-c without value", []string{"-c"}, Args{}, ExitUsage, true, "", "flag needs an argument: -c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			a, code, done := cmd.Parse(tc.args, &stdout, &stderr)
			if a != tc.want || code != tc.code || done != tc.done {
				t.Errorf("got %+v, %d, %v; want %+v, %d, %v", a, code, done, tc.want, tc.code, tc.done)
			}
			for _, s := range []struct {
				name      string
				got, want string
			}{{"stdout", stdout.String(), tc.stdout}, {"stderr", stderr.String(), tc.stderr}} {
				if s.want == "" && s.got != "" {
					t.Errorf("%s not empty: %q", s.name, s.got)
				}
				if !strings.Contains(s.got, s.want) {
					t.Errorf("%s lacks %q: %q", s.name, s.want, s.got)
				}
			}
		})
	}
}
