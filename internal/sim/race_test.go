//go:build race

package sim

// defaultSeeds is how many seeds TestSimulation runs under the race
// detector, which slows the Controllers tenfold; the full count runs
// without it (make sim).
const defaultSeeds = 40
