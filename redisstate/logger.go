package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// callKey marks the context of a State's command with the State's prefix,
// so that Logger can tell go-redis's lines about it from the rest.
type callKey struct{}

// Logger returns a logger for go-redis's process-wide [redis.SetLogger]
// that writes each line go-redis prints (a failed dial, a connection
// closed by the pool, ...) to l instead of stderr, as the message "redis"
// with the line in "line". Lines about a State's command, with its key
// prefix in "state", and about a failed dial of a client of [NewClient]
// are at Debug: the State returns the same failure as its error, which the
// Limiter already logs once per outage, where go-redis prints a line for
// every dial. Every other line is at Warn.
//
// A State never calls redis.SetLogger itself, since go-redis has one
// logger per process and the choice belongs to the program. To silence
// go-redis instead, call logging.Disable from its package logging. The
// logger is safe for simultaneous use by multiple goroutines if l is.
func Logger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l}
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	line := fmt.Sprintf(format, v...)
	if prefix, ok := ctx.Value(callKey{}).(string); ok {
		r.l.DebugContext(ctx, "redis", "line", line, "state", prefix)
		return
	}
	for _, x := range v {
		var de *dialError
		if err, ok := x.(error); ok && errors.As(err, &de) {
			r.l.DebugContext(ctx, "redis", "line", line)
			return
		}
	}
	r.l.WarnContext(ctx, "redis", "line", line)
}
