package redisstate

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy to Redis that a test can cut and restore: a Redis
// outage that is deterministic and needs no second server.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
}

type proxyMode int

const (
	modeUp     proxyMode = iota // forward
	modeRefuse                  // close every connection at once
	modeHang                    // accept, then never answer
)

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// set changes the mode and drops every open connection, as a server that
// dies or restarts does: connections hung during an outage don't come back.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	p.mode = m
	for c := range p.conns {
		c.Close()
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == modeRefuse {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		if mode == modeHang {
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.drop(c)
			continue
		}
		p.mu.Lock()
		p.conns[up] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies from src to dst until either fails, then drops both.
func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	p.drop(dst)
	p.drop(src)
}

func (p *proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
