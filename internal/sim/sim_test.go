package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
	"testing/synctest"

	"github.com/llmlimit/llmlimit/llmtest"
)

// seedCount is how many seeds the matrix's fullest cells run (see
// cellSeeds): LLMLIMIT_SIM_SEEDS, else 20; 3 under -short; 1 under the race detector,
// which slows the pipeline about eightfold and is there to find races, not
// to measure.
func seedCount(t *testing.T) int {
	if v := os.Getenv("LLMLIMIT_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LLMLIMIT_SIM_SEEDS=%q: want a positive integer", v)
		}
		return n
	}
	switch {
	case raceEnabled:
		return 1
	case testing.Short():
		return 3
	}
	return 20
}

// cellSeeds is how many of seeds a cell runs. The matrix must take less
// than a minute on two cores, and a run costs 0.1 to 0.6 s of CPU (the SDKs
// and the emulator, not the virtual time), so only the cells where the
// seed matters most run them all:
//
//   - seed-v2 runs a quarter: its 429 storms make its runs two to five times
//     as costly as the others' where it meets a quota, and it is the
//     reference, whose figures move little from seed to seed.
//   - Scenarios where no per-minute quota binds (demand under quota, the
//     daily cap, the outage) run a quarter: nothing there is near a
//     bound, and the seed moves only latencies, averaged over hundreds of
//     calls (their makespans vary by a few seconds in a hundred).
//   - Cells whose quota has no phase for the seed to draw (rolling windows,
//     buckets) run half, for the same reason.
//   - The token-bound scenario runs half: its 40 KB batches cost the SDKs
//     and the emulator several times a short one.
//   - The extra wait budgets run half: they show which way the frontier
//     goes, by margins far wider than their intervals.
//
// Every cell runs seeds 1 to its count, so a cell's seeds are the first of
// another's.
func cellSeeds(s Scenario, p Policy, seeds int) int {
	n := seeds
	switch {
	case p.Kind == KindSeedV2, !s.QuotaBound:
		n = seeds / 4
	case s.Shape != llmtest.FixedWindow, s.tokenBound(), p.MaxWait != defaultWait:
		n = seeds / 2
	}
	return max(n, 1)
}

// TestScenarios runs the matrix, prints the table (with -v),
// writes the JSON to $LLMLIMIT_SIM_JSON when set, and checks the goals.
func TestScenarios(t *testing.T) {
	// The runs allocate a lot and keep little; fewer collections make the
	// matrix markedly faster.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	seeds := seedCount(t)

	type cell struct {
		s    Scenario
		p    Policy
		runs []Metrics
	}
	var cells []*cell
	t.Run("matrix", func(t *testing.T) {
		for _, s := range Scenarios() {
			for _, p := range Policies(s) {
				c := &cell{s: s, p: p}
				cells = append(cells, c)
				t.Run(s.Name+"/"+p.Name, func(t *testing.T) {
					t.Parallel()
					for seed := range uint64(cellSeeds(s, p, seeds)) {
						synctest.Test(t, func(t *testing.T) {
							m, err := RunOnce(t.Context(), s, p, seed+1)
							if err != nil {
								t.Fatal(err)
							}
							c.runs = append(c.runs, m)
						})
					}
				})
			}
		}
	})
	if t.Failed() {
		return
	}
	sums := make([]Summary, len(cells))
	for i, c := range cells {
		sums[i] = Summarize(c.runs)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, sums); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		os.Stdout.Write(table.Bytes())
	}
	if path := os.Getenv("LLMLIMIT_SIM_JSON"); path != "" {
		var b bytes.Buffer
		if err := WriteJSON(&b, sums); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range CheckGoals(sums) {
		if errors.Is(e, ErrTargetMissed) {
			// Reported, not asserted: see ErrTargetMissed.
			fmt.Fprintln(os.Stdout, e)
			continue
		}
		t.Error(e)
	}
	if t.Failed() && !testing.Verbose() {
		t.Log("\n" + table.String())
	}
}
