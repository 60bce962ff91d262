package failover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pgha/pgha/pg"
)

// DataDirInspector reports what a stopped server's data directory holds,
// which pg.Instance does not say: whether it is empty (bootstrap or clone
// needed) and whether it last ran as a primary (a former primary must be
// checked for divergence before it follows anyone).
type DataDirInspector interface {
	Inspect() (empty, wasPrimary bool, err error)
}

// DataDirInspectorFunc adapts a function to [DataDirInspector].
type DataDirInspectorFunc func() (empty, wasPrimary bool, err error)

// Inspect calls f.
func (f DataDirInspectorFunc) Inspect() (bool, bool, error) { return f() }

// DirInspector inspects a local data directory: empty without PG_VERSION;
// a former primary when neither standby.signal nor backup_label (a fresh
// base backup) is present.
type DirInspector string

// Inspect implements [DataDirInspector].
func (d DirInspector) Inspect() (empty, wasPrimary bool, err error) {
	dir := string(d)
	exists := func(name string) (bool, error) {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		}
		return false, fmt.Errorf("failover: inspect data directory: %w", err)
	}
	ver, err := exists("PG_VERSION")
	if err != nil || !ver {
		return !ver && err == nil, false, err
	}
	standby, err1 := exists("standby.signal")
	label, err2 := exists("backup_label")
	if err := errors.Join(err1, err2); err != nil {
		return false, false, err
	}
	return false, !standby && !label, nil
}

// defaultInspector returns a DirInspector for instances that name their
// data directory (pglocal.Local), else one that reports a non-empty replica
// data directory.
func defaultInspector(inst pg.Instance) DataDirInspector {
	if d, ok := inst.(interface{ DataDir() string }); ok {
		return DirInspector(d.DataDir())
	}
	return DataDirInspectorFunc(func() (bool, bool, error) { return false, false, nil })
}
