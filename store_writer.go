package llmlimit

import (
	"context"
	"log/slog"
	"sync"
)

// storeWriter writes a run's results to its store as they arrive, in
// groups: while one transaction commits, the next results gather, so a
// busy run makes few, larger transactions and an idle one writes each
// result at once. Its goroutine lives from startWriter to close, within
// one Run.
type storeWriter struct {
	s      *Store
	logger *slog.Logger
	ctx    context.Context

	mu      sync.Mutex
	pending []record
	closing bool
	written int
	err     error

	wake chan struct{}
	done chan struct{}
}

// startWriter starts the writer. Its writes outlive a canceled ctx (what
// was tagged before a Ctrl-C is kept) but are bounded by the store's lock
// wait.
func startWriter(ctx context.Context, s *Store, logger *slog.Logger) *storeWriter {
	w := &storeWriter{
		s: s, logger: logger, ctx: context.WithoutCancel(ctx),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

func (w *storeWriter) add(rec record) {
	w.mu.Lock()
	w.pending = append(w.pending, rec)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *storeWriter) loop() {
	defer close(w.done)
	for range w.wake {
		w.mu.Lock()
		recs, closing := w.pending, w.closing
		w.pending = nil
		w.mu.Unlock()
		if len(recs) > 0 {
			w.write(recs)
		}
		if closing {
			w.mu.Lock()
			empty := len(w.pending) == 0
			w.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (w *storeWriter) write(recs []record) {
	err := w.s.put(w.ctx, recs)
	w.mu.Lock()
	if err == nil {
		w.written += len(recs)
	} else if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	if err != nil {
		w.logger.Warn("store write failed", "store", w.s.Path(), "results", len(recs), "error", err)
	}
}

// close writes what is pending, stops the goroutine and returns how many
// results were written and the first write error.
func (w *storeWriter) close() (int, error) {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
	return w.written, w.err
}
