//go:build !race

package sim

// defaultSeeds is how many seeds TestSimulation runs by default: make
// test runs this package without the race detector (make sim).
const defaultSeeds = 2000
