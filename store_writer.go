package llmlimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// storeWriter writes a run's results to its store as they arrive, in
// groups. Each commit rewrites every page its keys fall on (keys are
// hashes, so they fall everywhere) and syncs the file, so a busy run gains
// from fewer, larger groups: after a commit the writer waits
// storeFlushInterval or twice as long as the commit took, whichever is
// longer (at most storeMaxInterval), so that writing takes at most a third
// of its time. A result therefore waits at most that long, plus one
// commit, to be on disk, and a killed process loses at most that much
// work. Its goroutine lives from startWriter to close, within one Run.
type storeWriter struct {
	s      *Store
	logger *slog.Logger
	ctx    context.Context

	mu      sync.Mutex
	pending [][]record
	closing bool
	written int
	err     error

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// The least and the most time between the end of one commit and the start
// of the next.
const (
	storeFlushInterval = 50 * time.Millisecond
	storeMaxInterval   = 2 * time.Second
)

// startWriter starts the writer. Its writes outlive a canceled ctx (what
// was tagged before a Ctrl-C is kept) but are bounded by the store's lock
// wait.
func startWriter(ctx context.Context, s *Store, logger *slog.Logger) *storeWriter {
	w := &storeWriter{
		s: s, logger: logger, ctx: context.WithoutCancel(ctx),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

func (w *storeWriter) add(recs []record) {
	w.mu.Lock()
	w.pending = append(w.pending, recs)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *storeWriter) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
		}
		w.mu.Lock()
		groups, closing := w.pending, w.closing
		w.pending = nil
		w.mu.Unlock()
		var recs []record
		for _, g := range groups {
			recs = append(recs, g...)
		}
		if len(recs) == 0 && closing {
			return
		}
		begin := time.Now()
		w.write(recs)
		if closing {
			continue // write what came meanwhile, at once
		}
		t := time.NewTimer(min(max(storeFlushInterval, 2*time.Since(begin)), storeMaxInterval))
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
		}
	}
}

func (w *storeWriter) write(recs []record) {
	if len(recs) == 0 {
		return
	}
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
	close(w.stop)
	<-w.done
	return w.written, w.err
}
