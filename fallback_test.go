package llmlimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

type resetCounter struct {
	stubProvider
	resets int
}

func (r *resetCounter) Reset() { r.resets++ }

func TestFallbackOrder(t *testing.T) {
	primary := &stubProvider{name: "gemini", next: func(int) error { return rateLimited(0) }}
	secondary := &stubProvider{name: "openai"}
	var logs bytes.Buffer
	f, err := NewFallback([]Provider{primary, secondary}, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Generate(t.Context(), &Request{})
	if err != nil || resp.Provider != "openai" {
		t.Fatalf("resp %+v err %v, want served by openai", resp, err)
	}
	if !strings.Contains(logs.String(), "msg=fallback from=gemini to=openai") {
		t.Errorf("no fallback log: %s", logs.String())
	}
	primary.next = nil
	if resp, _ := f.Generate(t.Context(), &Request{}); resp.Provider != "gemini" {
		t.Fatalf("served by %s, want gemini when it is healthy", resp.Provider)
	}
}

func TestFallbackAllFail(t *testing.T) {
	a := &stubProvider{name: "gemini", next: func(int) error { return rateLimited(0) }}
	b := &stubProvider{name: "openai", next: func(int) error {
		return &ProviderError{Provider: "openai", StatusCode: 429, Kind: KindQuotaExhausted}
	}}
	f, _ := Fallback(a, b)
	_, err := f.Generate(t.Context(), &Request{})
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, ErrQuotaExhausted) {
		t.Fatalf("joined error %v does not carry both failures", err)
	}
	for _, want := range []string{"llmlimit: all providers failed", "gemini: ", "openai: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFallbackCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &stubProvider{name: "gemini", latency: time.Hour}
		b := &stubProvider{name: "openai"}
		f, _ := Fallback(a, b)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := f.Generate(ctx, &Request{})
		if err != context.DeadlineExceeded || b.calls.Load() != 0 {
			t.Fatalf("err %v, openai calls %d; want the caller's deadline and no fallback", err, b.calls.Load())
		}
	})
}

func TestFallbackRejects(t *testing.T) {
	a, b := &stubProvider{name: "a"}, &stubProvider{name: "b"}
	inner, _ := Fallback(a, b)
	tests := []struct {
		name      string
		providers []Provider
		want      string
	}{
		{"empty", nil, "no providers"},
		{"nil", []Provider{a, nil}, "provider 1 is nil"},
		{"duplicate", []Provider{a, a}, "a appears more than once"},
		{"duplicate through a chain", []Provider{a, inner}, "a appears more than once"},
		{"same chain twice", []Provider{inner, inner}, "appears more than once"},
	}
	for _, tt := range tests {
		_, err := Fallback(tt.providers...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	cyclic := &cyclicChain{}
	cyclic.members = []Provider{b, cyclic}
	if _, err := Fallback(a, cyclic); err == nil || !strings.Contains(err.Error(), "contains itself") {
		t.Errorf("cyclic chain: err %v", err)
	}
}

type cyclicChain struct {
	stubProvider
	members []Provider
}

func (c *cyclicChain) Unwrap() []Provider { return c.members }

func TestFallbackResetReachesEveryLimiter(t *testing.T) {
	ra, rb := &resetCounter{}, &resetCounter{}
	la, _ := New(ra)
	lb, _ := New(rb)
	f, err := Fallback(la, lb)
	if err != nil {
		t.Fatal(err)
	}
	f.(Resetter).Reset()
	if ra.resets != 1 || rb.resets != 1 {
		t.Fatalf("resets %d %d, want 1 1", ra.resets, rb.resets)
	}
	if m := f.(Wrapper).Unwrap(); len(m) != 2 || m[0] != la || m[1] != lb {
		t.Fatalf("Unwrap() = %v", m)
	}
}

func TestFallbackWaitsPastTheBudgetWhenNothingElseServes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gemini := &stubProvider{name: "gemini"}
		openai := &stubProvider{name: "openai", next: func(int) error {
			return &ProviderError{Provider: "openai", StatusCode: 429, Kind: KindQuotaExhausted}
		}}
		gl := newTestLimiter(t, gemini, WithMaxWait(5*time.Second))
		ol := newTestLimiter(t, openai)
		gl.local.mu.Lock()
		gl.local.extendGate(time.Now().Add(20 * time.Second))
		gl.local.mu.Unlock()
		f, _ := Fallback(gl, ol)
		start := time.Now()
		resp, err := f.Generate(t.Context(), &Request{})
		if err != nil || resp.Provider != "gemini" {
			t.Fatalf("resp %+v err %v, want gemini to serve after its cooldown", resp, err)
		}
		if waited := time.Since(start); waited != 20*time.Second {
			t.Fatalf("served after %v, want the 20s cooldown", waited)
		}
	})
}
