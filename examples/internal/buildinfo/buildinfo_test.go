package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	v := Version()
	if !strings.HasSuffix(v, " "+runtime.Version()) || strings.HasPrefix(v, " ") {
		t.Errorf("Version() = %q: want the module version first and Go's version last", v)
	}
}
