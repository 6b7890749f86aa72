package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		err  error
		want Kind
	}{
		{&ProviderError{Kind: KindRateLimited}, KindRateLimited},
		{fmt.Errorf("wrapped: %w", &ProviderError{Kind: KindQuotaExhausted}), KindQuotaExhausted},
		{context.Canceled, KindCanceled},
		{context.DeadlineExceeded, KindTransient},
		{io.ErrUnexpectedEOF, KindTransient},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, KindTransient},
		{syscall.ECONNRESET, KindTransient},
		{errors.New("something"), KindPermanent},
		{nil, KindPermanent},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestKindOfStatus(t *testing.T) {
	for status, want := range map[int]Kind{
		400: KindPermanent, 401: KindPermanent, 403: KindPermanent, 404: KindPermanent,
		408: KindTransient, 429: KindRateLimited, 500: KindTransient, 502: KindTransient, 503: KindTransient,
	} {
		if got := kindOfStatus(status); got != want {
			t.Errorf("kindOfStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestProviderError(t *testing.T) {
	cause := errors.New("sdk error")
	e := &ProviderError{Provider: "gemini", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 26 * time.Second,
		QuotaID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Err: cause}
	want := "llmlimit: gemini: status 429 (rate_limited, retry after 26s, quota GenerateRequestsPerMinutePerProjectPerModel-FreeTier): sdk error"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
	if !errors.Is(e, ErrRateLimited) || errors.Is(e, ErrQuotaExhausted) || !errors.Is(e, cause) {
		t.Error("Is does not follow Kind / Unwrap")
	}
	q := &ProviderError{Provider: "openai", Kind: KindQuotaExhausted}
	if !errors.Is(fmt.Errorf("x: %w", q), ErrQuotaExhausted) {
		t.Error("quota error does not match ErrQuotaExhausted")
	}
	c := &WaitError{Provider: "gemini", Reason: "gate", Wait: 26 * time.Second, Budget: time.Second, Cause: e}
	if !errors.Is(c, ErrCooldown) || !errors.Is(c, ErrRateLimited) || !strings.HasPrefix(c.Error(), "llmlimit: gemini: gate wait of 26s exceeds the wait budget of 1s") {
		t.Errorf("WaitError %q does not match both sentinels", c.Error())
	}
	if Kind(99).String() != "kind(99)" || KindCanceled.String() != "canceled" {
		t.Error("Kind.String")
	}
}
