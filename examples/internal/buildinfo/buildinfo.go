// Package buildinfo formats the --version line the example binaries
// print, from the build information Go embeds.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the module version (or "(devel)"), the VCS revision when the
// binary was built from a checkout ("+dirty" when the tree was modified),
// and Go's version: "(devel) 1a2b3c4d5e6f+dirty go1.26.8".
func Version() string {
	v, rev, dirty := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = " " + s.Value[:min(12, len(s.Value))]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		dirty = ""
	}
	return fmt.Sprintf("%s%s%s %s", v, rev, dirty, runtime.Version())
}
