package redisstate

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// respCases are streams of replies and whether respBound lets them
// through: everything a State's client legitimately reads, and the
// smallest breaches of each bound.
var respCases = []struct {
	name   string
	stream string
	ok     bool
}{
	{"integer", ":1\r\n", true},
	{"cooldowns", "*3\r\n:0\r\n:1\r\n:0\r\n", true},
	{"hello", helloReply, true},
	{"status and error", "+OK\r\n-ERR unknown command 'HELLO'\r\n", true},
	{"nulls", "$-1\r\n*-1\r\n_\r\n", true},
	{"empty", "$0\r\n\r\n*0\r\n%0\r\n", true},
	{"resp3 scalars", ",1.5\r\n#t\r\n(12345678901234567890\r\n=7\r\ntxt:abc\r\n!3\r\nERR\r\n", true},
	{"push then reply", ">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n:0\r\n", true},
	{"nested to the depth", strings.Repeat("*1\r\n", maxDepth) + ":1\r\n", true},
	{"string at the bound", bulk(maxReply - len("$65530\r\n") - 2), true},
	{"two replies at the bound", bulk(maxReply-len("$65530\r\n")-2) + bulk(maxReply-len("$65530\r\n")-2), true},
	{"elements at the bound", "*21842\r\n" + strings.Repeat("_\r\n", 21842), true},

	{"string over the bound", bulk(maxReply - len("$65530\r\n") - 1), false},
	{"length over the bound", "$65537\r\n", false},
	{"length near 2^63", "$9223372036854775807\r\n", false},
	{"length past 2^64", "*99999999999999999999999\r\n", false},
	{"elements over the bound", "*21843\r\n", false},
	{"map over the bound", "%10922\r\n", false},
	{"nested elements over the bound", "*2\r\n*21841\r\n", false},
	{"nested too deep", strings.Repeat("*1\r\n", maxDepth+1), false},
	{"line over the bound", "+" + strings.Repeat("x", maxReply) + "\r\n", false},
	{"negative length", "$-2\r\n", false},
	{"no digits", "*\r\n", false},
	{"letters", "$1a\r\n", false},
	{"CR without LF", "$1\rx", false},
	{"attribute", "|1\r\n+a\r\n+b\r\n:1\r\n", false},
	{"streamed string", "$?\r\n", false},
	{"not RESP", "HTTP/1.1 200 OK\r\n", false},
	{"NUL", "\x00", false},
}

func bulk(n int) string { return "$" + strconv.Itoa(n) + "\r\n" + strings.Repeat("x", n) + "\r\n" }

// TestRespBound feeds each stream whole, byte by byte and in chunks of 7:
// the verdict is the same, and a refusal is errRefused.
func TestRespBound(t *testing.T) {
	for _, tc := range respCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, size := range []int{len(tc.stream), 1, 7} {
				err := feedChunks([]byte(tc.stream), size)
				if (err == nil) != tc.ok {
					t.Errorf("in chunks of %d: %v, want ok=%v", size, err, tc.ok)
				}
				if err != nil && !errors.Is(err, errRefused) {
					t.Errorf("in chunks of %d: %v, not errRefused", size, err)
				}
			}
		})
	}
}

func feedChunks(p []byte, size int) error {
	var b respBound
	for len(p) > 0 {
		n := min(size, len(p))
		if err := b.feed(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// FuzzRespBound feeds any bytes in chunks of any size: respBound never
// panics, and its verdict doesn't depend on how the reads split the
// stream.
func FuzzRespBound(f *testing.F) {
	for _, tc := range respCases {
		if len(tc.stream) < 4096 {
			f.Add([]byte(tc.stream), uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, size uint8) {
		whole := feedChunks(stream, len(stream)+1)
		split := feedChunks(stream, int(size)%16+1)
		if (whole == nil) != (split == nil) {
			t.Fatalf("whole: %v; in chunks of %d: %v", whole, int(size)%16+1, split)
		}
	})
}
