package llmlimit

// Cache stores tags by key. Implementations must be safe for simultaneous use
// by multiple goroutines.
type Cache interface {
	Get(key string) (tags []string, ok bool)
	Add(key string, tags []string)
}
