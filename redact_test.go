package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"
)

// Keys a client never had, carried only by a redirect's target.
const (
	redirectGeminiKey = "AIzaSyREDIRECT-only-key-0123456789abcd"
	redirectOpenAIKey = "redirect-only-proxy-secret-31337"
)

// assertChainClean fails if any key shows in err or anything reachable
// from it: through Unwrap, every error's Error(), %v, %+v and %#v; through
// reflection, every string, byte slice and map key the values hold
// (unexported fields, requests, replies, raw JSON and details included).
func assertChainClean(t *testing.T, err error, keys ...string) {
	t.Helper()
	check := func(where, s string) {
		t.Helper()
		for _, k := range keys {
			if i := strings.Index(s, k); i >= 0 {
				t.Errorf("%s shows key %q: ...%s...", where, k, s[max(0, i-60):min(len(s), i+len(k)+20)])
			}
		}
	}
	walkErrors(err, func(e error) {
		name := fmt.Sprintf("%T", e)
		check(name+".Error()", e.Error())
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			check(name+" "+verb, fmt.Sprintf(verb, e))
		}
		if oe, ok := e.(*openai.Error); ok {
			check("RawJSON", oe.RawJSON())
			if oe.Request != nil {
				check("DumpRequest", string(oe.DumpRequest(true)))
			}
			if oe.Response != nil {
				check("DumpResponse", string(oe.DumpResponse(true)))
			}
		}
	})
	deepStrings(reflect.ValueOf(err), map[uintptr]bool{}, func(s string) { check("a value in the chain", s) })
}

// deepStrings calls f on every string reachable from v.
func deepStrings(v reflect.Value, seen map[uintptr]bool, f func(string)) {
	switch v.Kind() {
	case reflect.String:
		f(v.String())
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		deepStrings(v.Elem(), seen, f)
	case reflect.Interface:
		if !v.IsNil() {
			deepStrings(v.Elem(), seen, f)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			deepStrings(v.Field(i), seen, f)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			f(string(v.Bytes()))
			return
		}
		for i := range v.Len() {
			deepStrings(v.Index(i), seen, f)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			deepStrings(it.Key(), seen, f)
			deepStrings(it.Value(), seen, f)
		}
	}
}

// The real SDK clients are driven into every error path with keys where
// they leak: the configured key in the base URL's path, a redirect to a
// ?key= URL (a key the client never had), a server echoing the key in its
// message and details, a malformed body quoting it. No error reachable
// from the returned one shows a key, and errors.As still finds the SDK's
// error type.
func TestErrorChainHoldsNoKey(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused", Addr: "10.0.0.1:443"}}
	redirect := func(to string) wireReply {
		return wireReply{status: http.StatusTemporaryRedirect, header: http.Header{"Location": {to}}}
	}
	echo := func(key string) string { return strings.ReplaceAll(geminiEcho, testKey, key) }
	tests := []struct {
		name    string
		gemini  bool
		path    bool // the configured key is in the base URL's path too
		replies []wireReply
		sdkErr  bool // errors.As to the SDK's type must work
	}{
		{name: "transport error, key in the base URL", gemini: true, path: true, replies: []wireReply{{err: refused}}},
		{name: "redirect to ?key=, then a transport error", gemini: true, replies: []wireReply{redirect("http://gemini.test/v1beta/models/m:generateContent?key=" + redirectGeminiKey), {err: refused}}},
		{name: "redirect to ?key=, then a 401 echoing it", gemini: true, replies: []wireReply{redirect("http://gemini.test/v1beta/x?key=" + redirectGeminiKey), {status: 401, body: echo(redirectGeminiKey)}}, sdkErr: true},
		{name: "403 echoing the key", gemini: true, path: true, replies: []wireReply{{status: 403, body: geminiEcho}}, sdkErr: true},
		{name: "429 quoting the key in its details", gemini: true, replies: []wireReply{{status: 429, body: strings.ReplaceAll(gemini429Minute, "FreeTier", testKey)}}, sdkErr: true},
		{name: "malformed body quoting the key", gemini: true, replies: []wireReply{{status: 502, body: "<html>bad gateway for " + testKey + "</html>"}}, sdkErr: true},
		{name: "body cut off after the key", gemini: true, replies: []wireReply{{status: 503, body: `{"error":{"message":"` + testKey, bodyErr: io.ErrUnexpectedEOF}}},

		{name: "transport error, key in the base URL", path: true, replies: []wireReply{{err: refused}}},
		{name: "redirect to ?key=, then a transport error", replies: []wireReply{redirect("http://openai.test/v1/chat/completions?key=" + redirectOpenAIKey), {err: refused}}},
		{name: "redirect to ?key=, then a 401 echoing it", replies: []wireReply{redirect("http://openai.test/v1/chat/completions?api_key=" + redirectOpenAIKey),
			{status: 401, body: strings.ReplaceAll(openai401, openaiTestKey, redirectOpenAIKey)}}, sdkErr: true},
		{name: "redirect to another origin with ?key=", replies: []wireReply{redirect("http://elsewhere.test/v1/chat/completions?token=" + redirectOpenAIKey)}},
		{name: "401 echoing the key", path: true, replies: []wireReply{{status: 401, body: openai401}}, sdkErr: true},
		{name: "429 quoting the key", replies: []wireReply{{status: 429, body: strings.ReplaceAll(openai429, "org-emulator", openaiTestKey), header: rateHeaders}}, sdkErr: true},
		{name: "malformed body quoting the key", replies: []wireReply{{status: 502, body: "<html>" + openaiTestKey + "</html>", header: http.Header{"Content-Type": {"text/html"}}}}, sdkErr: true},
		{name: "body cut off after the key", replies: []wireReply{{status: 503, body: `{"error":{"message":"` + openaiTestKey, bodyErr: io.ErrUnexpectedEOF}}},
	}
	for _, tt := range tests {
		name := map[bool]string{true: "gemini/", false: "openai/"}[tt.gemini] + tt.name
		t.Run(name, func(t *testing.T) {
			w := &fakeWire{replies: tt.replies}
			var p Provider
			if tt.gemini {
				p = newTestGemini(t, w, "", func(c *genai.ClientConfig) {
					if tt.path {
						c.HTTPOptions.BaseURL = "http://gemini.test/" + testKey + "/"
					}
				})
			} else {
				base := "http://openai.test/v1/"
				if tt.path {
					base = "http://openai.test/" + openaiTestKey + "/v1/"
				}
				p = NewOpenAI(openai.NewClient(option.WithAPIKey(openaiTestKey), option.WithBaseURL(base),
					option.WithHTTPClient(&http.Client{Transport: w})), "")
			}
			_, err := p.Generate(context.Background(), &Request{Prompt: "p"})
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %T %v", err, err)
			}
			if w.count() != len(tt.replies) {
				t.Errorf("sent %d requests, want %d", w.count(), len(tt.replies))
			}
			assertChainClean(t, err, testKey, openaiTestKey, redirectGeminiKey, redirectOpenAIKey)
			var gErr genai.APIError
			var oErr *openai.Error
			if got := errors.As(err, &gErr) || errors.As(err, &oErr); got != tt.sdkErr {
				t.Errorf("errors.As to the SDK's error = %v, want %v", got, tt.sdkErr)
			}
			if tt.replies[len(tt.replies)-1].err != nil && (KindOf(err) != KindTransient || !errors.Is(err, tt.replies[len(tt.replies)-1].err)) {
				t.Errorf("transport error: kind %v, errors.Is the cause %v", KindOf(err), errors.Is(err, refused))
			}
			t.Logf("%v", err)
		})
	}
}

// What a URL tells about its secrets.
func TestSecretsFromURL(t *testing.T) {
	tests := []struct {
		url    string
		secret []string // learned
		kept   []string // not learned: safe to show
	}{
		{"https://proxy.example/sk-proj-abcdefghij0123456789/v1/chat/completions", []string{"sk-proj-abcdefghij0123456789"}, []string{"proxy.example", "chat", "completions"}},
		{"https://proxy.example/Xk29fLq8ZpR3mNv7TbW1/v1", []string{"Xk29fLq8ZpR3mNv7TbW1"}, []string{"v1"}},
		{"https://x.example/v1/chat?key=short1&api-version=2024-10-21", []string{"short1"}, []string{"2024-10-21"}},
		{"https://x.example/?access_token=tok123&x_goog_api_key=abc1&signature=s1g9", []string{"tok123", "abc1", "s1g9"}, nil},
		{"https://user1:pa55word@x.example/", []string{"user1", "pa55word"}, nil},
		{"https://gw.example/v1/0123456789abcdef0123456789abcdef/gateway/openai", []string{"0123456789abcdef0123456789abcdef"}, []string{"gateway", "openai"}},
		{"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-preview-05-20:generateContent", nil, []string{"gemini-2", "5-flash-preview-05-20", "generateContent", "v1beta"}},
		{"https://x.openai.azure.com/openai/deployments/gpt-4o-2024-08-06/chat/completions?api-version=2024-10-21", nil, []string{"gpt-4o-2024-08-06", "deployments"}},
	}
	for _, tt := range tests {
		var s secrets
		s.addURL(tt.url)
		out := s.redact(tt.url)
		for _, k := range tt.secret {
			if strings.Contains(out, k) {
				t.Errorf("%s: %q not redacted: %s", tt.url, k, out)
			}
		}
		for _, k := range tt.kept {
			if !strings.Contains(out, k) {
				t.Errorf("%s: %q redacted: %s", tt.url, k, out)
			}
		}
	}
}

// Text is redacted for known keys (also URL-escaped), key shapes and
// credential-named query parameters; other text is kept.
func TestRedactText(t *testing.T) {
	var s secrets
	s.add("my key/with=odd chars")
	tests := []struct{ in, want string }{
		{"key my key/with=odd chars here", "key [redacted] here"},
		{"escaped my+key%2Fwith%3Dodd+chars", "escaped [redacted]"},
		{"Incorrect API key provided: sk-proj-0123456789abcdefABCDEF.", "Incorrect API key provided: [redacted]."},
		{"key AIzaSyA-0123456789abcdefghijklmnopqrstu", "key [redacted]"},
		{"Authorization: Bearer eyJhbGciOi.J9.xyz", "Authorization: [redacted]"},
		{`Post "http://h/v1?key=abc&x=1": EOF`, `Post "http://h/v1?key=[redacted]&x=1": EOF`},
		{"GenerateContentPaidTierInputTokensPerModelPerMinute-PaidTier2 limit: 250000", "GenerateContentPaidTierInputTokensPerModelPerMinute-PaidTier2 limit: 250000"},
		{"risk-assessment and task-0123456789abcdefgh", "risk-assessment and task-0123456789abcdefgh"},
	}
	for _, tt := range tests {
		if got := s.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A chain that shows no secret is returned as it is, so errors.Is and
// errors.As see its own types; one that does is rebuilt around the clean
// parts, which stay reachable.
func TestSanitizeKeepsWhatIsClean(t *testing.T) {
	var s secrets
	s.add("sekrit-key")
	clean := fmt.Errorf("read: %w", syscall.ECONNRESET)
	if got := s.sanitize(clean, nil, nil); got != clean {
		t.Errorf("clean chain rebuilt: %#v", got)
	}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: context.DeadlineExceeded}
	leaky := fmt.Errorf("post: %w", errors.Join(&url.Error{Op: "Post", URL: "http://h/sekrit-key/v1", Err: timeout}, errors.New("sekrit-key expired")))
	got := s.sanitize(leaky, nil, nil)
	assertChainClean(t, got, "sekrit-key")
	var ue *url.Error
	var oe *net.OpError
	if !errors.As(got, &ue) || !errors.Is(got, context.DeadlineExceeded) || !ue.Timeout() || !errors.As(got, &oe) || oe != timeout {
		t.Errorf("rebuilt chain lost its types: %#v", got)
	}
	if !strings.Contains(got.Error(), "http://h/[redacted]/v1") {
		t.Errorf("message %q", got.Error())
	}
}

func TestLooksLikeKey(t *testing.T) {
	for tok, want := range map[string]bool{
		"sk-proj-abcdefghij0123456789": true, "AIzaSyA0123456789abcdefghijklmnop": true, "gsk_0123456789abcdefghijAB": true,
		"Xk29fLq8ZpR3mNv7TbW1": true, "0123456789abcdef0123456789ABCDEF": true,
		"gemini-2": false, "generateContent": false, "gpt-4o-mini-2024-07-18": false, "completions": false,
		"GenerateRequestsPerDayPerProjectPerModel-FreeTier": false, "Xk29fLq8ZpR3mNv7Tb": false,
	} {
		if got := looksLikeKey(tok); got != want {
			t.Errorf("looksLikeKey(%q) = %v, want %v", tok, got, want)
		}
	}
}
