package sim

import (
	"testing"

	"go.uber.org/goleak"
)

// The opencensus worker is started by an init function of a dependency of
// genai and lives as long as the process; it is not ours to stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
