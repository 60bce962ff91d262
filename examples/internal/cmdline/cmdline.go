// Package cmdline parses the command line that pgha-agent and pgha-proxy
// share:
//
//	NAME [-c FILE] [-check] [FILE]
//	NAME --help | --version
//
// --help and --version answer on stdout with exit 0 whatever else is on the
// line; a usage error prints the flag package's complaint and the synopsis
// on stderr with exit 2. The commands' own checks (a configuration is
// required, subcommands) stay with them.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pgha/pgha/examples/internal/buildinfo"
)

// Exit codes of the example commands.
const (
	ExitOK      = 0 // clean stop, -check of a valid file, --help, --version
	ExitFailure = 1 // failure while running
	ExitUsage   = 2 // usage or configuration error
)

// Command names a command and its texts.
type Command struct {
	Name   string // "pgha-agent": the flag set's name, the prefix of messages and of the --version line
	Usage  string // the synopsis printed with a usage error
	Manual string // the --help text
}

// Args is what the shared command line says.
type Args struct {
	Path  string // -c FILE, or the only argument (Patroni takes the file as an argument); "" when neither
	Check bool   // -check: validate the configuration and exit
}

// VersionText is the --version line: the command's name and
// buildinfo.Version.
func (c Command) VersionText() string { return c.Name + " " + buildinfo.Version() }

// Parse parses args. When done is true the command has been answered
// (--help or --version on stdout, or a usage error on stderr) and the caller
// exits with code; otherwise code is ExitOK and a holds the options.
func (c Command) Parse(args []string, stdout, stderr io.Writer) (a Args, code int, done bool) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // Parse prints the synopsis or the manual itself
	fs.StringVar(&a.Path, "c", "", "configuration file")
	fs.BoolVar(&a.Check, "check", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, c.Manual)
			return Args{}, ExitOK, true
		}
		fmt.Fprintf(stderr, "%s\nTry '%s --help' for more information.\n", c.Usage, c.Name)
		return Args{}, ExitUsage, true
	}
	if *showVersion {
		fmt.Fprintln(stdout, c.VersionText())
		return Args{}, ExitOK, true
	}
	if fs.NArg() == 1 && a.Path == "" {
		a.Path = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", c.Name, fs.Args())
		return Args{}, ExitUsage, true
	}
	return a, ExitOK, false
}
