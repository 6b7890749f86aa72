package llmlimit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJobRecord feeds job records as a damaged or hostile store file could
// hold them: a record decodes or is refused, never panics, and one that
// decodes writes back to what it reads again.
func FuzzJobRecord(f *testing.F) {
	f.Add([]byte(`{"provider":"gemini","handle":"h","submitted":"2026-12-01T10:00:00Z","requests":[{"id":"r1","items":[{"id":"1","key":"` +
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `"}]}]}`))
	f.Add([]byte(`{"requests":[{"items":[{"key":"zz"}]}]}`))
	f.Add([]byte(`{"submitted":"9999-99-99"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j jobRecord
		if json.Unmarshal(data, &j) != nil {
			return
		}
		once, err := json.Marshal(j)
		if err != nil {
			return // a time json can read but not write (a year past 9999)
		}
		var again jobRecord
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("a record written from %q doesn't read back: %v", data, err)
		}
		twice, err := json.Marshal(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("record changes on a round trip:\n%s\n%s (%v)", once, twice, err)
		}
	})
}
