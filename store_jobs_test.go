package llmlimit

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestStoreJobs writes, reads and removes job records, on a store made
// before the jobs bucket existed, and drops records past retention.
func TestStoreJobs(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if jobs, err := s.jobs(ctx); err != nil || len(jobs) != 0 {
		t.Fatalf("a store without jobs: %v, %v", jobs, err)
	}
	k := newKeyer([]string{"a"}).key("text")
	fresh := jobRecord{Provider: "openai", Handle: "openai:v1:batch_1=1", Submitted: time.Now().Round(0),
		Requests: []jobRequest{{ID: "r1", Checked: true, Items: []jobItem{{ID: "i1", Key: k}}}}}
	old := jobRecord{Provider: "openai", Handle: "openai:v1:batch_0=1", Submitted: time.Now().Add(-jobRetention)}
	for _, j := range []jobRecord{fresh, old} {
		if err := s.putJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.jobs(ctx)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs: %+v, %v; want the fresh one", jobs, err)
	}
	got := jobs[0]
	if got.Handle != fresh.Handle || !got.Submitted.Equal(fresh.Submitted) || len(got.Requests) != 1 ||
		got.Requests[0].Items[0] != fresh.Requests[0].Items[0] || !got.Requests[0].Checked {
		t.Errorf("read back %+v, want %+v", got, fresh)
	}
	if n, err := s.Len(); err != nil || n != 0 {
		t.Errorf("jobs counted as results: %d, %v", n, err)
	}
	if _, err := OpenStore(s.Path()); err != nil {
		t.Errorf("a store with jobs does not open again: %v", err)
	}
	if err := s.deleteJobs(ctx, []string{fresh.Handle}); err != nil {
		t.Fatal(err)
	}
	db, err := s.open(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(jobsBucket).Stats().KeyN; n != 0 {
			t.Errorf("%d records left, want none: the old one goes with the fresh one", n)
		}
		return nil
	})
}
