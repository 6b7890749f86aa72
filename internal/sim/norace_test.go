//go:build !race

package sim

// raceEnabled is set when the race detector is on; the matrix then runs
// fewer seeds.
const raceEnabled = false
