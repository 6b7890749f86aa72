package llmlimit

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// genai links go.opencensus.io, whose package init starts a worker
	// goroutine that never ends; it is not ours to leak.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
