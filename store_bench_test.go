package llmlimit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
)

// BenchmarkStoreMemory2M reads a store of 2 million results with a run of
// 100,000 items, all of them in the store, and reports the peak heap and
// the process's peak RSS while it reads (the mapped pages of the file count
// in RSS), and the RSS before the run. The store is built once, in LLMLIMIT_STORE_2M_DIR when
// set (it takes minutes), else in a temporary directory.
//
//	go test -run '^$' -bench StoreMemory2M -benchtime 1x .
func BenchmarkStoreMemory2M(b *testing.B) {
	const total, run = 2_000_000, 100_000
	dir := os.Getenv("LLMLIMIT_STORE_2M_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, "2m.db")
	s, err := OpenStore(path)
	if err != nil {
		b.Fatal(err)
	}
	space := Space{Name: "2m", Tags: []string{"alpha", "beta", "gamma"}}
	k := newKeyer(space.Tags)
	o := origin{provider: "noop", model: "instant", served: "instant", protocol: "tagspace/v1", vocab: k.vocab, at: time.Now()}
	if n, _ := s.Len(); n < total {
		for start := 0; start < total; start += 100_000 {
			recs := make([]record, 0, 100_000)
			for i := start; i < start+100_000; i++ {
				recs = append(recs, record{key: k.key(itemText(i)), val: stored{tags: []string{"alpha", "gamma"}, origin: o}})
			}
			if err := s.put(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
		}
	}
	fi, _ := os.Stat(path)
	for i := range run {
		space.Items = append(space.Items, Item{ID: strconv.Itoa(i), Text: itemText(i * (total / run))})
	}
	ts, err := NewTagSpace(&noopProvider{resp: Response{Provider: "noop", Model: "instant"}}, WithStore(s))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		base := peakRSS()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		peak := m0.HeapAlloc
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		rep, err := ts.Run(context.Background(), space)
		close(stop)
		<-done
		if err != nil || rep.Cached != run {
			b.Fatalf("cached %d of %d: %v %s", rep.Cached, run, err, rep.StoreError)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(peak-m0.HeapAlloc)/(1<<20), "run-heap-MB")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
		b.ReportMetric(float64(base)/(1<<20), "base-RSS-MB")
		b.ReportMetric(float64(fi.Size())/(1<<20), "store-MB")
	}
}

func itemText(i int) string { return fmt.Sprintf("item number %d of the big space", i) }

// resetPeakRSS resets the kernel's high-water mark of this process's RSS
// (Linux: clear_refs 5); elsewhere it does nothing.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM from /proc/self/status in bytes, 0 where there is none.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return n << 10
		}
	}
	return 0
}
