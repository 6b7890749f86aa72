// Package pace holds the constants of quota pacing that every State must
// share: llmlimit's MemoryState and redisstate's scripts pace alike.
package pace

// A quota whose server contradicts its model is paced smoothly for
// SmoothWindows of its windows at first (doubling each time it is
// contradicted again), with a burst of SmoothBurst of its limit.
const (
	SmoothWindows = 16
	SmoothBurst   = 0.02
)
