package pace

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoothLeavesRoom: a smooth quota refills at its limit less its burst
// a window, which must leave a positive rate and a burst of less than the
// limit, and a first spell of at least a window.
func TestSmoothLeavesRoom(t *testing.T) {
	if SmoothBurst <= 0 || SmoothBurst >= 1 || SmoothWindows < 1 {
		t.Fatalf("SmoothBurst %v, SmoothWindows %v", SmoothBurst, SmoothWindows)
	}
}
