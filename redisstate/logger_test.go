package redisstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmlimit/llmlimit"
)

// TestLogger: a line about a State's command is at Debug with the State's
// prefix, one about a dial of NewClient's at Debug, any other at Warn.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := Logger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf(context.WithValue(context.Background(), callKey{}, "llmlimit:{k}:"), "dial %s: %v", "127.0.0.1:1", "refused")
	l.Printf(context.Background(), "failed to dial after %d attempts: %v", 5, fmt.Errorf("x: %w", &dialError{errors.New("refused")}))
	l.Printf(context.Background(), "pool closed")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], `level=DEBUG msg=redis line="dial 127.0.0.1:1: refused" state=llmlimit:{k}:`) ||
		!strings.Contains(lines[1], `level=DEBUG msg=redis line="failed to dial after 5 attempts: x: refused"`) ||
		!strings.Contains(lines[2], `level=WARN msg=redis line="pool closed"`) {
		t.Errorf("logged:\n%s", buf.String())
	}
}

// TestLoggerSeesStateCalls installs Logger as go-redis's logger and has a
// State dial a port nobody listens on: go-redis's line about the failed
// dial arrives at Debug instead of on stderr.
func TestLoggerSeesStateCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	buf := &syncBuffer{}
	redis.SetLogger(Logger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	// go-redis has no getter for its logger: put back one that writes to
	// stderr as its default does.
	defer redis.SetLogger(stderrLogger{log.New(log.Writer(), "redis: ", log.LstdFlags)})

	c := NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	s := New(c, "logged")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := s.Admit(ctx, llmlimit.Admission{}); err == nil {
		t.Fatal("Admit succeeded with no server")
	}
	if got := buf.String(); !strings.Contains(got, `level=DEBUG msg=redis line="redis: connection pool: failed to dial`) || strings.Contains(got, "WARN") {
		t.Errorf("go-redis logged:\n%s", got)
	}
}

type stderrLogger struct{ l *log.Logger }

func (s stderrLogger) Printf(_ context.Context, format string, v ...any) { s.l.Printf(format, v...) }
