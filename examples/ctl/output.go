package main

import (
	"fmt"

	"github.com/aymanbagabas/go-udiff"

	"github.com/pgha/pgha/examples/internal/listing"
)

// Output formats of list, topology, history and remove (-f): see
// listing.FormatPretty.
const (
	fmtPretty   = listing.FormatPretty
	fmtTSV      = listing.FormatTSV
	fmtJSON     = listing.FormatJSON
	fmtYAML     = listing.FormatYAML
	fmtTopology = listing.FormatTopology
)

// checkFormat accepts patronictl's -f values (yml is yaml).
func checkFormat(f string) (string, error) {
	switch f {
	case fmtPretty, fmtTSV, fmtJSON, fmtYAML:
		return f, nil
	case "yml":
		return fmtYAML, nil
	}
	return "", fmt.Errorf("%w: -f %q: want pretty, tsv, json or yaml", ErrUsage, f)
}

// unifiedDiff renders a line diff of a and b in the unified format, with
// three lines of context, as patronictl's edit-config shows changes.
func unifiedDiff(nameA, nameB, a, b string) string {
	return udiff.Unified(nameA, nameB, a, b)
}
