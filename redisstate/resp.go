package redisstate

import (
	"bytes"
	"errors"
	"fmt"
)

// Bounds of what a State's client reads. The scripts answer with a handful
// of integers, and the handshake (HELLO, CLIENT SETINFO) with a few hundred
// bytes; an error reply is a line.
const (
	// maxReply bounds one reply, nested elements included.
	maxReply = 64 << 10
	// maxDepth bounds nesting: HELLO's modules are a map in an array in a
	// map.
	maxDepth = 8
	// minElement is the fewest bytes an element takes on the wire ("_\r\n",
	// "+\r\n"): an aggregate announcing n elements commits the reply to at
	// least n × minElement more bytes.
	minElement = 3
)

// errRefused is the error of a connection that read a reply over the
// bounds.
var errRefused = errors.New("llmlimit: redisstate: reply refused")

// respBound follows RESP2 and RESP3 framing as the bytes of a connection
// are read, and refuses a reply, before go-redis parses it, once its
// lengths add up to more than maxReply: go-redis allocates what a length
// announces before it reads the bytes, so a length near 2^63 panics its
// makeslice and one of 1e9 allocates a gigabyte. It only counts: the bytes
// pass through unchanged, and go-redis still parses them.
//
// The zero value expects the start of a reply. A respBound is not safe for
// concurrent use; go-redis reads a connection from one goroutine at a time.
type respBound struct {
	state   respState
	typ     byte  // of the element whose header is being read
	n       int64 // the header's length so far
	digits  int
	neg     bool
	skip    int64 // bytes of a bulk string still to come, CRLF included
	used    int64 // bytes of the current reply so far
	pending int64 // elements announced by open aggregates, not started yet
	open    []int64
}

type respState uint8

const (
	stType     respState = iota // the type byte of an element
	stLine                      // a simple string, error, number, ... up to LF
	stHeader                    // a length, up to CR
	stHeaderLF                  // the LF after a length
	stBulk                      // the bytes of a bulk string and its CRLF
)

// feed follows p, the next bytes read, and returns errRefused (wrapped)
// when they break the bounds or RESP's framing. After an error the
// connection is out of step and must not be read any more.
func (b *respBound) feed(p []byte) error {
	for len(p) > 0 {
		switch b.state {
		case stType:
			if err := b.start(p[0]); err != nil {
				return err
			}
			p = p[1:]
			b.used++
		case stLine:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				b.used += int64(len(p))
				p = nil
				break
			}
			b.used += int64(i + 1)
			p = p[i+1:]
			if err := b.check(); err != nil {
				return err
			}
			b.end()
			continue
		case stHeader:
			if err := b.headerByte(p[0]); err != nil {
				return err
			}
			p = p[1:]
			b.used++
		case stHeaderLF:
			if p[0] != '\n' {
				return fmt.Errorf("%w: no LF after a length", errRefused)
			}
			p = p[1:]
			b.used++
			if err := b.header(); err != nil {
				return err
			}
			continue
		case stBulk:
			k := min(int64(len(p)), b.skip)
			b.skip -= k
			b.used += k
			p = p[k:]
			if b.skip == 0 {
				b.end()
			}
			continue
		}
		if err := b.check(); err != nil {
			return err
		}
	}
	return nil
}

// check refuses the reply once what it read and what it announced can't
// fit in maxReply.
func (b *respBound) check() error {
	if b.used+b.pending*minElement > maxReply {
		return fmt.Errorf("%w: over %d bytes", errRefused, maxReply)
	}
	return nil
}

// start begins an element of type c.
func (b *respBound) start(c byte) error {
	if len(b.open) > 0 {
		b.open[len(b.open)-1]--
		b.pending--
	}
	b.typ = c
	switch c {
	case '+', '-', ':', ',', '(', '#', '_':
		b.state = stLine
	case '$', '=', '!', '*', '~', '>', '%':
		b.state, b.n, b.digits, b.neg = stHeader, 0, 0, false
	default:
		// Attributes ('|') and streamed aggregates are RESP3 that Redis
		// doesn't send; anything else isn't RESP.
		return fmt.Errorf("%w: type byte %q", errRefused, c)
	}
	return nil
}

// headerByte reads a byte of a length: an optional "-" (of "-1", a null),
// then digits, then CR.
func (b *respBound) headerByte(c byte) error {
	switch {
	case c == '-' && b.digits == 0 && !b.neg:
		b.neg = true
	case c >= '0' && c <= '9':
		b.n = b.n*10 + int64(c-'0')
		b.digits++
		if b.n > maxReply {
			return fmt.Errorf("%w: %q length over %d", errRefused, b.typ, maxReply)
		}
	case c == '\r' && b.digits > 0 && (!b.neg || b.n == 1):
		b.state = stHeaderLF
	default:
		return fmt.Errorf("%w: %q in a length", errRefused, c)
	}
	return nil
}

// header acts on a complete length.
func (b *respBound) header() error {
	if b.neg || b.n == 0 && b.typ != '$' && b.typ != '=' && b.typ != '!' {
		// A null, or an empty aggregate.
		b.end()
		return nil
	}
	switch b.typ {
	case '$', '=', '!':
		b.state, b.skip = stBulk, b.n+2
		if b.used+b.skip+b.pending*minElement > maxReply {
			return fmt.Errorf("%w: string of %d bytes, over %d in a reply", errRefused, b.n, maxReply)
		}
		return nil
	}
	n := b.n
	if b.typ == '%' {
		n *= 2
	}
	if len(b.open) == maxDepth {
		return fmt.Errorf("%w: nested more than %d deep", errRefused, maxDepth)
	}
	b.open = append(b.open, n)
	b.pending += n
	b.state = stType
	if b.used+b.pending*minElement > maxReply {
		return fmt.Errorf("%w: aggregate of %d elements, over %d bytes in a reply", errRefused, b.n, maxReply)
	}
	return nil
}

// end closes the element just read, and every aggregate it completes; the
// last one completes the reply.
func (b *respBound) end() {
	b.state = stType
	for len(b.open) > 0 && b.open[len(b.open)-1] == 0 {
		b.open = b.open[:len(b.open)-1]
	}
	if len(b.open) == 0 {
		b.used = 0
	}
}
