package llmlimit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A store keeps the batch jobs a run has submitted and not yet collected,
// in bucket "jobs", under their handles: enough for another run, in this
// process or another, to collect a job instead of submitting its requests
// again. Stores written before the bucket existed simply have none; the
// bucket is created by the first job written, and readers that predate
// it ignore it.
var jobsBucket = []byte("jobs")

// jobRetention is how long a job record is kept: longer than either
// provider runs a job (24 h at OpenAI, 48 h at Gemini) and keeps its
// results for collection. An older record names a job no provider will
// answer for.
const jobRetention = 7 * 24 * time.Hour

// jobRecord is a submitted batch job: the provider's handle, and for each
// request the items it asked about, by the id the prompt gave each and
// the item's cache key, so that a run knows which of its items a result
// answers without the requests themselves.
type jobRecord struct {
	Provider  string       `json:"provider"`
	Handle    string       `json:"handle"`
	Submitted time.Time    `json:"submitted"`
	Emulated  bool         `json:"emulated,omitempty"`
	Requests  []jobRequest `json:"requests"`
}

// jobRequest is one request of a job: its id, whether it asked for the
// checked protocol, and its items.
type jobRequest struct {
	ID      string    `json:"id"`
	Checked bool      `json:"checked,omitempty"`
	Items   []jobItem `json:"items"`
}

// jobItem is an item of a request: the id the prompt named it by and its
// cache key.
type jobItem struct {
	ID  string    `json:"id"`
	Key resultKey `json:"key"`
}

// MarshalText writes a key as hex, for job records.
func (k resultKey) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(k[:])), nil
}

// UnmarshalText reads what MarshalText wrote.
func (k *resultKey) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(k) {
		return fmt.Errorf("llmlimit: job record: key of %d characters", len(b))
	}
	_, err := hex.Decode(k[:], b)
	return err
}

// putJob records j, replacing a record of the same handle.
func (s *Store) putJob(ctx context.Context, j jobRecord) error {
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("llmlimit: store %s: job: %w", s.path, err)
	}
	db, err := s.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(jobsBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(j.Handle), v)
	})
	if err != nil {
		return fmt.Errorf("llmlimit: store %s: write job: %w", s.path, err)
	}
	return nil
}

// jobs returns the job records younger than jobRetention; records it
// can't read are left out.
func (s *Store) jobs(ctx context.Context) ([]jobRecord, error) {
	db, err := s.open(ctx, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []jobRecord
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if j, ok := keptJob(v); ok && j.Handle == string(k) {
				out = append(out, j)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("llmlimit: store %s: read jobs: %w", s.path, err)
	}
	return out, nil
}

// keptJob reads a job record, and reports whether it is one to keep:
// readable, and younger than jobRetention.
func keptJob(v []byte) (jobRecord, bool) {
	var j jobRecord
	if json.Unmarshal(v, &j) != nil {
		return j, false
	}
	return j, time.Since(j.Submitted) < jobRetention
}

// deleteJobs removes the records of handles, and every record older than
// jobRetention.
func (s *Store) deleteJobs(ctx context.Context, handles []string) error {
	db, err := s.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket)
		if b == nil {
			return nil
		}
		for _, h := range handles {
			if err := b.Delete([]byte(h)); err != nil {
				return err
			}
		}
		var stale [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if _, ok := keptJob(v); !ok {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("llmlimit: store %s: delete jobs: %w", s.path, err)
	}
	return nil
}
