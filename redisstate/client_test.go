package redisstate

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmlimit/llmlimit"
)

// TestNewClientRecovers: the connection that read a refused reply is
// dropped, and the next call, on a new one, is answered.
func TestNewClientRecovers(t *testing.T) {
	srv := newFakeRedis(t, fault{name: "once", reply: "$1000000000\r\n", first: 1})
	c := NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	s := New(c, "recovers")
	ctx := t.Context()
	if _, err := s.Admit(ctx, llmlimit.Admission{}); !errors.Is(err, errRefused) {
		t.Fatalf("first Admit: %v, want the reply refused", err)
	}
	if w, err := s.Admit(ctx, llmlimit.Admission{}); err != nil || w.Wait != 0 {
		t.Errorf("second Admit = %v, %v; want 0, nil", w, err)
	}
}

// TestNewClientBound: a reply up to 64 KiB reaches go-redis (and is then a
// wrong reply for a State), one byte more is refused before go-redis reads
// it.
func TestNewClientBound(t *testing.T) {
	header := len("$65530\r\n")
	for _, tc := range []struct {
		size    int
		refused bool
	}{{maxReply - header - 2, false}, {maxReply - header - 1, true}} {
		srv := newFakeRedis(t, fault{name: "big", reply: bulk(tc.size)})
		c := NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
		_, err := New(c, "bound").Admit(t.Context(), llmlimit.Admission{})
		c.Close()
		if err == nil || errors.Is(err, errRefused) != tc.refused {
			t.Errorf("a string of %d bytes: %v, want refused=%v", tc.size, err, tc.refused)
		}
	}
}

// TestNewClientDialer: NewClient dials through the Dialer of the options,
// and leaves the caller's options as they were.
func TestNewClientDialer(t *testing.T) {
	srv := newFakeRedis(t, fault{name: "admitted", reply: "*3\r\n:0\r\n:0\r\n:0\r\n"})
	var dials atomic.Int32
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	opts := &redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, Dialer: dialer}
	c := NewClient(opts)
	defer c.Close()
	if _, err := New(c, "dialer").Admit(t.Context(), llmlimit.Admission{}); err != nil {
		t.Fatal(err)
	}
	if dials.Load() == 0 {
		t.Error("the options' Dialer was not used")
	}
	if reflect.ValueOf(opts.Dialer).Pointer() != reflect.ValueOf(dialer).Pointer() {
		t.Error("the caller's options changed")
	}
}

// TestNewClientHealthCheck: an idle connection of NewClient keeps
// go-redis's check of its socket, so one the server closed is not reused:
// the call after it succeeds on a new connection instead of failing.
func TestNewClientHealthCheck(t *testing.T) {
	srv := newFakeRedis(t, fault{name: "admitted", reply: "*3\r\n:0\r\n:0\r\n:0\r\n"})
	c := NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	s := New(c, "health")
	if _, err := s.Admit(t.Context(), llmlimit.Admission{}); err != nil {
		t.Fatal(err)
	}
	srv.dropConns()
	time.Sleep(50 * time.Millisecond) // for the FIN to arrive
	if _, err := s.Admit(t.Context(), llmlimit.Admission{}); err != nil {
		t.Errorf("Admit after the server closed the idle connection: %v", err)
	}
}
