package redisstate

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient returns a go-redis client of opts for States only. It refuses
// every reply that announces or holds more than 64 KiB, as it reads it and
// before go-redis parses it, and fails the command with a connection error
// (the connection is dropped; the next command dials a new one). A broken
// or hostile server, or anything on the path to it, can then fail a
// State's call but can't make go-redis allocate what a length announces (a
// gigabyte for $1000000000, a panic for a length near 2^63) or read for
// seconds. A State's replies are a few integers.
//
// Give it to [New], for as many keys as you like, and use another client
// for commands of your own: on this one a reply over 64 KiB fails. Set
// ContextTimeoutEnabled in opts, as for any client of a State. The Dialer of
// opts, if any, dials each connection (TLS included), otherwise go-redis's
// own dialer does; opts is not changed. The client is the caller's to
// close and, as any go-redis client, safe for simultaneous use by multiple
// goroutines.
//
// Rejected: bounding replies on a client the caller shares. The bound
// belongs to a connection, whose next reply may be the caller's own large
// value; telling a State's replies apart would mean parsing the commands
// written to it, through a hook added to someone else's client, which
// wraps only the connections dialed after it. Rejected too: a DialHook
// added to the client built here, since with MinIdleConns its pool dials
// before the hook is in place.
func NewClient(opts *redis.Options) *redis.Client {
	o := *opts
	dial := o.Dialer
	if dial == nil {
		// go-redis's own dialer, with the default its options would give a
		// zero DialTimeout (the TLS handshake has no other bound).
		d := o
		if d.DialTimeout == 0 {
			d.DialTimeout = 5 * time.Second
		}
		dial = redis.NewDialer(&d)
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, &dialError{err}
		}
		return bounded(c), nil
	}
	return redis.NewClient(&o)
}

// dialError is a failed dial of a client of NewClient. go-redis dials on
// a goroutine of its own and logs the failure with its own context; the
// error among the line's arguments is what tells Logger whose it is.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// boundedConn is a connection whose reads follow RESP and fail once a
// reply breaks the bounds of respBound. It wraps what the dialer returned,
// so TLS is below it and it reads plain RESP.
type boundedConn struct {
	net.Conn
	bound respBound
	err   error
}

// bounded wraps c. go-redis's check of an idle connection peeks at its
// socket through syscall.Conn, and skips the check when there is none, so
// the wrapper has it exactly when c does.
func bounded(c net.Conn) net.Conn {
	b := &boundedConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		return &boundedSyscallConn{boundedConn: b, sc: sc}
	}
	return b
}

// Read reads from the connection and fails, then and on every later read,
// when the bytes break the bounds. The bytes of the read that broke them
// are not returned: they hold the length go-redis must not act on.
func (c *boundedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if ferr := c.bound.feed(p[:n]); ferr != nil {
		c.err = ferr
		return 0, ferr
	}
	return n, err
}

type boundedSyscallConn struct {
	*boundedConn
	sc syscall.Conn
}

func (c *boundedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }
