package llmlimit

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redaction by construction. An error a provider returns is rebuilt so that
// no error reachable from it through Unwrap shows an API key, in Error() or
// any fmt verb, because reporters (Sentry, %+v loggers) walk the chain and
// print what they find there. The secrets are
//
//   - the keys the provider knows it sent (Gemini's configured key, the
//     bearer or Api-Key of OpenAI's request);
//   - in every URL the chain names (a *url.Error's, a request's, a
//     redirect's): the user and password, the value of every query
//     parameter whose name suggests a credential (key, api_key, token,
//     secret, password, sig, ...), and every path segment or query value
//     that looks like a key (see looksLikeKey), which covers a key in a
//     proxy's base URL or a redirect the client never had a key for;
//   - in any text: anything shaped like a well-known kind of API key (sk-,
//     AIza, gsk_, xai-, Bearer tokens) and any credential-named query
//     parameter.
//
// Errors whose every rendering is already clean are kept as they are, so
// errors.Is and errors.As find them; the SDKs' own error types are always
// replaced by sanitized copies of the same type.

// redacted replaces every secret.
const redacted = "[redacted]"

// minKeyLen keeps redaction from mangling messages when a test passes a
// one-letter key; real keys are dozens of characters.
const minKeyLen = 4

var (
	keyShape = regexp.MustCompile(`\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{20,}|\bgsk_[A-Za-z0-9]{20,}|\bxai-[A-Za-z0-9]{20,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}`)
	// credentialParam matches a credential-named query parameter in text,
	// with its value in the second group.
	credentialParam = regexp.MustCompile(`(?i)([?&;](?:key|api[_-]?key|x-goog-api-key|access[_-]?token|id[_-]?token|token|auth|secret|client[_-]?secret|password|passwd|sig|signature)=)([^&\s"'<>#]+)`)
	// tokenRun splits URL components into the runs a key is made of.
	tokenRun = regexp.MustCompile(`[A-Za-z0-9_-]+`)
)

// credentialName reports whether a query parameter's name suggests that
// its value is a credential.
func credentialName(name string) bool {
	n := asciiLower(name)
	for _, w := range [...]string{"key", "token", "secret", "pass", "auth", "sig"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// looksLikeKey reports whether tok, a run of URL-safe characters, is
// probably a credential: a well-known key shape, 32 or more hex digits (an
// Azure key), or 20 or more characters mixing upper case, lower case and
// digits, as random base-62 keys do. Model names, API versions and Gemini's
// method names ("gemini-2.5-flash", "v1beta", "generateContent") are none of
// these; the rule is for URLs only, where such runs are rarely anything else.
func looksLikeKey(tok string) bool {
	if keyShape.MatchString(tok) {
		return true
	}
	if len(tok) >= 32 && strings.Trim(asciiLower(tok), "0123456789abcdef") == "" {
		return true
	}
	if len(tok) < 20 {
		return false
	}
	var upper, lower, digit bool
	for _, c := range []byte(tok) {
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
		digit = digit || '0' <= c && c <= '9'
	}
	return upper && lower && digit
}

// secrets is what an error chain must not show. The zero value knows no
// key and still applies the patterns. It is not safe for concurrent use;
// each failed call builds its own.
type secrets struct{ keys []string }

// add learns a secret, in the forms a URL or a JSON body may carry it.
func (s *secrets) add(k string) {
	k = strings.TrimSpace(k)
	if len(k) < minKeyLen {
		return
	}
	for _, v := range [...]string{k, url.QueryEscape(k), url.PathEscape(k)} {
		if !slices.Contains(s.keys, v) {
			s.keys = append(s.keys, v)
		}
	}
	// Longest first, so that a key containing another is replaced whole.
	slices.SortStableFunc(s.keys, func(a, b string) int { return len(b) - len(a) })
}

// addURL learns the secrets raw carries, as the package comment lists.
func (s *secrets) addURL(raw string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u == nil {
		return
	}
	if u.User != nil {
		s.add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			s.add(p)
		}
	}
	s.addTokens(u.Path)
	for name, vs := range u.Query() {
		for _, v := range vs {
			if credentialName(name) {
				s.add(v)
			}
			s.addTokens(v)
		}
	}
}

// addTokens learns every run of s that looks like a key.
func (s *secrets) addTokens(text string) {
	for _, tok := range tokenRun.FindAllString(text, -1) {
		if looksLikeKey(tok) {
			s.add(tok)
		}
	}
}

// redact returns text without any known secret, key-shaped run or
// credential-named query value.
func (s *secrets) redact(text string) string {
	for _, k := range s.keys {
		text = strings.ReplaceAll(text, k, redacted)
	}
	text = keyShape.ReplaceAllString(text, redacted)
	return credentialParam.ReplaceAllString(text, "${1}"+redacted)
}

// redactAny returns a copy of v, decoded JSON, with every string redacted,
// map keys included.
func (s *secrets) redactAny(v any) any {
	switch x := v.(type) {
	case string:
		return s.redact(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[s.redact(k)] = s.redactAny(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = s.redactAny(e)
		}
		return l
	}
	return v
}

// learn walks err's chain for the URLs it names. more learns from the
// SDK's own types.
func (s *secrets) learn(err error, more func(error)) {
	walkErrors(err, func(e error) {
		if ue, ok := e.(*url.Error); ok {
			s.addURL(ue.URL)
		}
		if more != nil {
			more(e)
		}
	})
}

// walkErrors calls f on err and every error reachable from it through
// Unwrap() error and Unwrap() []error, depth first.
func walkErrors(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, f)
		}
	}
}

// sanitize returns err rebuilt so that no error in its chain shows a
// secret, after learning the chain's URLs. sdk returns a sanitized copy of
// an SDK error type, or false for any other error.
func (s *secrets) sanitize(err error, learn func(error), sdk func(error) (error, bool)) error {
	s.learn(err, learn)
	return s.rebuild(err, sdk)
}

func (s *secrets) rebuild(err error, sdk func(error) (error, bool)) error {
	if err == nil {
		return nil
	}
	if sdk != nil {
		if c, ok := sdk(err); ok {
			return c
		}
	}
	if s.clean(err) {
		return err
	}
	switch x := err.(type) {
	case *url.Error:
		return &url.Error{Op: x.Op, URL: s.redact(x.URL), Err: s.rebuild(x.Err, sdk)}
	case *net.OpError:
		c := *x
		c.Err = s.rebuild(x.Err, sdk)
		return &c
	case *net.DNSError:
		c := *x
		c.Err, c.Name, c.Server = s.redact(x.Err), s.redact(x.Name), s.redact(x.Server)
		c.UnwrapErr = s.rebuild(x.UnwrapErr, sdk)
		return &c
	case *os.SyscallError:
		return &os.SyscallError{Syscall: s.redact(x.Syscall), Err: s.rebuild(x.Err, sdk)}
	case interface{ Unwrap() []error }:
		errs := x.Unwrap()
		c := &redactedJoin{msg: s.redact(err.Error()), errs: make([]error, len(errs))}
		for i, e := range errs {
			c.errs[i] = s.rebuild(e, sdk)
		}
		return c
	case interface{ Unwrap() error }:
		return &redactedError{msg: s.redact(err.Error()), err: s.rebuild(x.Unwrap(), sdk)}
	}
	return &redactedError{msg: s.redact(err.Error())}
}

// clean reports whether no error in err's chain shows a secret in Error(),
// %v, %+v or %#v.
func (s *secrets) clean(err error) bool {
	ok := true
	walkErrors(err, func(e error) {
		for _, r := range [...]string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if ok && s.redact(r) != r {
				ok = false
			}
		}
	})
	return ok
}

// redactedError stands in for an error whose message showed a secret:
// the message without it, and the rest of the chain, rebuilt.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactedJoin is redactedError for errors that wrap several.
type redactedJoin struct {
	msg  string
	errs []error
}

func (e *redactedJoin) Error() string   { return e.msg }
func (e *redactedJoin) Unwrap() []error { return e.errs }

// replyError is a failed reply described in text, for the wire parsers
// that have no SDK error to wrap.
type replyError struct{ msg string }

func (e *replyError) Error() string { return e.msg }

// sanitizedRequest returns a copy of r for an error chain: its URL and
// headers without secrets, credential headers and the body (the prompt)
// dropped.
func (s *secrets) sanitizedRequest(r *http.Request) *http.Request {
	if r == nil {
		return nil
	}
	c := &http.Request{
		Method: r.Method, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Host: s.redact(r.Host), Header: s.sanitizedHeader(r.Header),
	}
	if r.URL != nil {
		if u, err := url.Parse(s.redact(r.URL.String())); err == nil {
			c.URL = u
		} else {
			c.URL = &url.URL{Scheme: r.URL.Scheme, Host: s.redact(r.URL.Host)}
		}
	}
	return c
}

// credentialHeaders are dropped from sanitized requests and replies.
var credentialHeaders = [...]string{"Authorization", "Proxy-Authorization", "Api-Key", "X-Api-Key", "X-Goog-Api-Key", "Cookie", "Set-Cookie"}

func (s *secrets) sanitizedHeader(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	c := make(http.Header, len(h))
	for k, vs := range h {
		c[k] = make([]string, len(vs))
		for i, v := range vs {
			c[k][i] = s.redact(v)
		}
	}
	for _, k := range credentialHeaders {
		c.Del(k)
	}
	return c
}

// errorsAs is errors.As for a value target, so SDK hooks read shortly.
func errorsAs[T any](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

// maxMessage bounds the server text kept in an error message: a proxy's
// HTML error page has no place in a log line.
const maxMessage = 512

// clipMessage shortens s to about maxMessage bytes on a rune boundary.
// Callers redact first: clipping could cut a key in half.
func clipMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
