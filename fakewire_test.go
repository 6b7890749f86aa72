package llmlimit

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// wireReply is one canned HTTP reply of a fake server.
type wireReply struct {
	status  int
	header  http.Header
	body    string
	err     error  // returned instead of a reply: no HTTP response at all
	hook    func() // called when the request arrives
	bodyErr error  // the body breaks off with this error after body
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// fakeWire is an http.RoundTripper answering from a script and recording
// what it was sent. The last reply repeats once the script runs out.
type fakeWire struct {
	mu      sync.Mutex
	replies []wireReply
	reqs    []*http.Request
	bodies  []string
}

func (f *fakeWire) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.bodies = append(f.bodies, string(body))
	rep := f.replies[0]
	if len(f.replies) > 1 {
		f.replies = f.replies[1:]
	}
	f.mu.Unlock()
	if rep.hook != nil {
		rep.hook()
	}
	if rep.err != nil {
		return nil, rep.err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range rep.header {
		h[k] = v
	}
	var rb io.Reader = strings.NewReader(rep.body)
	if rep.bodyErr != nil {
		rb = io.MultiReader(rb, failingReader{rep.bodyErr})
	}
	return &http.Response{
		StatusCode: rep.status, Status: http.StatusText(rep.status), Header: h,
		Body: io.NopCloser(rb), Request: r,
		ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

func (f *fakeWire) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// lastBody decodes the last request body.
func (f *fakeWire) lastBody(t *testing.T) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal([]byte(f.bodies[len(f.bodies)-1]), &m); err != nil {
		t.Fatalf("request body: %v", err)
	}
	return m
}

// readWire reads a recorded reply from testdata/wire, with its .headers
// file when there is one.
func readWire(t *testing.T, name string, status int) wireReply {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "wire", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if hb, err := os.ReadFile(filepath.Join("testdata", "wire", name+".headers")); err == nil {
		for _, line := range strings.Split(string(hb), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
	}
	return wireReply{status: status, body: string(body), header: h}
}
