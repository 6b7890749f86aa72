package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// limiterTel is a Limiter's instruments and tracer, with the attribute sets
// it records most, made once. A Limiter without telemetry has none, and
// its calls skip every step here.
type limiterTel struct {
	tracer    trace.Tracer
	provider  string // gen_ai.provider.name
	operation string // gen_ai.operation.name
	model     string // the provider's default model, or ""

	duration, waits   metric.Float64Histogram
	tokens            metric.Int64Histogram
	requests, retries metric.Int64Counter
	cooldowns         metric.Int64Counter
	// The attribute sets recorded most, made once: passing an existing
	// slice spares each variadic call an allocation.
	byOutcome             map[string]measured
	byWait, byRetry, byCD map[string]measured

	mu       sync.Mutex
	attempts map[attemptKey]*attemptSets // at most maxAttemptSets

	// The span starts of calls and first attempts for the default model,
	// made once.
	callStart, attemptStart []trace.SpanStartOption
	attemptName             string
}

// attemptKey is what varies between the attribute sets of attempts.
type attemptKey struct{ request, response, errorType string }

// attemptSets are the measurement options of one kind of attempt.
type attemptSets struct {
	duration, input, output measured
}

// maxAttemptSets bounds the attempt attribute sets kept: more models or
// error types than this are rare, and are made afresh each time.
const maxAttemptSets = 64

// attemptSetsFor returns the measurement options of attempts of k.
func (t *limiterTel) attemptSetsFor(k attemptKey) *attemptSets {
	t.mu.Lock()
	s, ok := t.attempts[k]
	t.mu.Unlock()
	if ok {
		return s
	}
	attrs := []attribute.KeyValue{keyOperation.String(t.operation), keyProvider.String(t.provider), keyRequestModel.String(k.request)}
	if k.errorType != "" {
		attrs = append(attrs, keyErrorType.String(k.errorType))
	} else {
		attrs = append(attrs, keyResponseModel.String(k.response))
	}
	s = &attemptSets{duration: measures(attrs...)}
	if k.errorType == "" {
		n := len(attrs)
		s.input = measures(append(attrs[:n:n], keyTokenType.String("input"))...)
		s.output = measures(append(attrs[:n:n], keyTokenType.String("output"))...)
	}
	t.mu.Lock()
	if len(t.attempts) < maxAttemptSets {
		t.attempts[k] = s
	}
	t.mu.Unlock()
	return s
}

// Call outcomes, llmlimit.outcome of llmlimit.requests.
var callOutcomes = []string{"success", "rate_limited", "quota_exhausted", "too_large", "transient", "permanent", "canceled", "refused"}

// newLimiterTel returns l's telemetry as cfg asks, or nil for none, and
// registers the callback of l's gauges.
func newLimiterTel(l *Limiter, cfg *config) (*limiterTel, error) {
	if cfg.meterProvider == nil && cfg.tracerProvider == nil {
		return nil, nil
	}
	var mp metric.MeterProvider = metricnoop.NewMeterProvider()
	if cfg.meterProvider != nil {
		mp = cfg.meterProvider
	}
	m := mp.Meter(instrumentationName)
	var tr trace.Tracer // nil without a tracer provider: no spans at all, not even no-op ones
	if cfg.tracerProvider != nil {
		tr = cfg.tracerProvider.Tracer(instrumentationName)
	}
	provider := genAIProvider(l.p.Name())
	t := &limiterTel{tracer: tr, provider: provider, operation: genAIOperation(provider), attempts: map[attemptKey]*attemptSets{}}
	if md, ok := l.p.(modelDefaulter); ok {
		t.model = md.defaultModel()
	}
	var e instrumentErr
	t.duration = secondsHistogram(m, &e, "gen_ai.client.operation.duration", "GenAI operation duration.", durationBounds)
	var err error
	t.tokens, err = m.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."), metric.WithExplicitBucketBoundaries(tokenBounds...))
	e.keep(err)
	t.requests = counter(m, &e, "llmlimit.requests", "{request}", "Generate calls of a Limiter, by how they ended.")
	t.retries = counter(m, &e, "llmlimit.retries", "{retry}", "Attempts after the first of a call, by the failure retried.")
	t.waits = secondsHistogram(m, &e, "llmlimit.wait.duration", "Time a call waited before an attempt started, by what held it.", waitBounds)
	t.cooldowns = counter(m, &e, "llmlimit.cooldowns", "{cooldown}", "Pauses of the cooldown gate, by cause.")
	limit, err := m.Int64ObservableGauge("llmlimit.slots.limit", metric.WithUnit("{slot}"),
		metric.WithDescription("The Limiter's current slot limit: attempts it lets run at once."))
	e.keep(err)
	inFlight, err := m.Int64ObservableUpDownCounter("llmlimit.slots.in_flight", metric.WithUnit("{request}"),
		metric.WithDescription("Attempts in flight."))
	e.keep(err)
	qLimit, err := m.Int64ObservableGauge("llmlimit.quota.limit", metric.WithUnit("{unit}"),
		metric.WithDescription("A quota's limit per window, told or last reported by the server."))
	e.keep(err)
	qLeft, err := m.Int64ObservableGauge("llmlimit.quota.remaining", metric.WithUnit("{unit}"),
		metric.WithDescription("What the server's last reply said was left of a quota."))
	e.keep(err)
	if err := e.result(); err != nil {
		return nil, err
	}
	t.callStart = t.callStartOptions(t.model)
	t.attemptStart, t.attemptName = t.attemptStartOptions(t.model, 0)
	base := attribute.String(string(keyProvider), t.provider)
	t.byOutcome = sets(keyOutcome, callOutcomes, base)
	t.byWait = sets(keyWaitCause, []string{"gate", "pacing", "slot", "backoff"}, base)
	t.byRetry = sets(keyRetryCause, []string{"rate_limited", "transient"}, base)
	t.byCD = sets(keyCooldownCause, []string{"successes", "rate_limit", "server_hint"}, base)
	only := measure(base)
	byUnit := make([]metric.ObserveOption, units)
	for u := range Unit(units) {
		byUnit[u] = metric.WithAttributeSet(attribute.NewSet(base, keyQuotaUnit.String(u.String())))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		g := l.gauges()
		o.ObserveInt64(limit, int64(g.limit), only)
		o.ObserveInt64(inFlight, int64(g.inFlight), only)
		for u, q := range g.quotas {
			if q.Limit > 0 {
				o.ObserveInt64(qLimit, int64(q.Limit), byUnit[u])
			}
			if q.Limit > 0 && q.Remaining >= 0 {
				o.ObserveInt64(qLeft, int64(q.Remaining), byUnit[u])
			}
		}
		return nil
	}, limit, inFlight, qLimit, qLeft)
	if err != nil {
		return nil, fmt.Errorf("llmlimit: meter provider: %w", err)
	}
	return t, nil
}

// sets returns one measurement option per value of key, each with base.
func sets(key attribute.Key, values []string, base ...attribute.KeyValue) map[string]measured {
	m := make(map[string]measured, len(values))
	n := len(base)
	for _, v := range values {
		m[v] = measures(append(base[:n:n], key.String(v))...)
	}
	return m
}

// measured is one attribute set as the options of Add and of Record.
type measured struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

func measures(attrs ...attribute.KeyValue) measured {
	m := measure(attrs...)
	return measured{add: []metric.AddOption{m}, rec: []metric.RecordOption{m}}
}

// gaugeValues is what the gauges show of a Limiter, read under its lock.
type gaugeValues struct {
	limit, inFlight int
	quotas          [units]Quota
}

func (l *Limiter) gauges() gaugeValues {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := gaugeValues{limit: l.limit, inFlight: l.inFlight, quotas: l.reported}
	for _, q := range l.cfg.quotas {
		if g.quotas[q.Unit].Limit == 0 {
			g.quotas[q.Unit] = Quota{Unit: q.Unit, Limit: q.Limit, Remaining: -1}
		}
	}
	return g
}

// noteQuotasLocked keeps, per unit, the last quota of under a day a
// server reported, for the gauges.
func (l *Limiter) noteQuotasLocked(qs []Quota) {
	for _, q := range qs {
		if int(q.Unit) < units && q.Limit > 0 && q.Window < day {
			l.reported[q.Unit] = q
		}
	}
}

// callObs observes one Generate: its span, and the attempt in progress.
type callObs struct {
	t     *limiterTel
	span  trace.Span
	model string // gen_ai.request.model
}

// startCall starts o as the observer of a Generate of req, and its span.
func (t *limiterTel) startCall(ctx context.Context, req *Request, o *callObs) context.Context {
	*o = callObs{t: t, model: t.model}
	if req != nil && req.Model != "" {
		o.model = req.Model
	}
	if t.tracer == nil {
		return ctx
	}
	opts := t.callStart
	if o.model != t.model {
		opts = t.callStartOptions(o.model)
	}
	ctx, o.span = t.tracer.Start(ctx, "llmlimit.generate", opts...)
	return ctx
}

func (t *limiterTel) callStartOptions(model string) []trace.SpanStartOption {
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(keyProvider.String(t.provider), keyRequestModel.String(model))}
}

// attemptStartOptions returns the span start options and the span name of
// attempt n (from 0) of a call to model.
func (t *limiterTel) attemptStartOptions(model string, n int) ([]trace.SpanStartOption, string) {
	attrs := []attribute.KeyValue{keyOperation.String(t.operation), keyProvider.String(t.provider), keyRequestModel.String(model)}
	if n > 0 {
		attrs = append(attrs, keyResendCount.Int(n))
	}
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}, t.operation + " " + model
}

// end ends the call's span and counts the call by its outcome.
func (o *callObs) end(ctx context.Context, err error) {
	out := callOutcome(ctx, err)
	o.t.requests.Add(ctx, 1, o.t.byOutcome[out].add...)
	if o.span == nil {
		return
	}
	o.span.SetAttributes(keyOutcome.String(out))
	if err != nil {
		o.span.SetAttributes(keyErrorType.String(out))
		o.span.SetStatus(codes.Error, out)
	}
	o.span.End()
}

// callOutcome names how a call ended, for llmlimit.outcome.
func callOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "success"
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return "canceled"
	case asWaitError(err) != nil:
		return "refused"
	case errors.Is(err, ErrQuotaExhausted):
		return "quota_exhausted"
	}
	return KindOf(err).String()
}

// wait records a wait of d for cause before an attempt.
func (o *callObs) wait(ctx context.Context, cause string, d time.Duration) {
	o.t.waits.Record(ctx, d.Seconds(), o.t.byWait[cause].rec...)
	if o.span == nil {
		return
	}
	o.span.AddEvent("llmlimit.wait", trace.WithAttributes(keyWaitCause.String(cause), keyWaitDuration.Float64(d.Seconds())))
}

// retry counts a retry of a failure of kind k.
func (o *callObs) retry(ctx context.Context, k Kind) {
	o.t.retries.Add(ctx, 1, o.t.byRetry[k.String()].add...)
}

// startAttempt starts the client span of attempt number n (from 0); the
// span is nil without a tracer.
func (o *callObs) startAttempt(ctx context.Context, n int) (context.Context, trace.Span) {
	if o.t.tracer == nil {
		return ctx, nil
	}
	opts, name := o.t.attemptStart, o.t.attemptName
	if n > 0 || o.model != o.t.model {
		opts, name = o.t.attemptStartOptions(o.model, n)
	}
	return o.t.tracer.Start(ctx, name, opts...)
}

// endAttempt records an attempt that ended in resp or r, and the
// cooldowns it fired.
func (o *callObs) endAttempt(ctx context.Context, span trace.Span, resp *Response, r result, cfg *config) {
	k := attemptKey{request: o.model}
	if r.err == nil {
		k.response = resp.Model
	} else {
		k.errorType = errorType(r)
	}
	sets := o.t.attemptSetsFor(k)
	o.t.duration.Record(ctx, r.took.Seconds(), sets.duration.rec...)
	if r.err == nil {
		o.t.tokens.Record(ctx, int64(resp.Usage.InputTokens), sets.input.rec...)
		o.t.tokens.Record(ctx, int64(resp.Usage.OutputTokens), sets.output.rec...)
	}
	if span != nil {
		if r.err == nil {
			span.SetAttributes(keyResponseModel.String(resp.Model),
				keyInputTokens.Int(resp.Usage.InputTokens), keyOutputTokens.Int(resp.Usage.OutputTokens))
		} else {
			span.SetAttributes(keyErrorType.String(k.errorType))
			span.SetStatus(codes.Error, k.errorType)
		}
		span.End()
	}
	o.cooldowns(ctx, r, cfg)
}

// cooldowns records the cooldowns an attempt fired, as counts and as
// events of the call's span.
func (o *callObs) cooldowns(ctx context.Context, r result, cfg *config) {
	fire := func(n int64, cause string, pause time.Duration) {
		if n <= 0 {
			return
		}
		o.t.cooldowns.Add(ctx, n, o.t.byCD[cause].add...)
		if o.span == nil {
			return
		}
		o.span.AddEvent("llmlimit.cooldown", trace.WithAttributes(keyCooldownCause.String(cause), keyCooldownPause.Float64(pause.Seconds())))
	}
	fire(r.fired.Successes, "successes", cfg.successCooldown)
	fire(r.fired.RateLimit, "rate_limit", cfg.rateLimitCooldown)
	fire(r.fired.ServerHint, "server_hint", r.hint)
}

// errorType is error.type of a failed attempt: the HTTP status when the
// server answered, else the failure's kind.
func errorType(r result) string {
	if pe := providerErrorOf(r.err); pe.StatusCode != 0 {
		return strconv.Itoa(pe.StatusCode)
	}
	return r.kind.String()
}
