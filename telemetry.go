package llmlimit

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// WithMeterProvider makes [New], [NewFallback] and [NewTagSpace] record
// OpenTelemetry metrics through mp: the GenAI semantic conventions' client
// metrics, and llmlimit.* instruments for what the conventions lack. nil,
// the default, records nothing and costs nothing.
//
// Every instrument carries gen_ai.provider.name ("gcp.gemini" for
// [Gemini], "openai" for [OpenAI], a custom provider's Name otherwise),
// except the Fallback and TagSpace ones, which name providers by Name:
//
//	Instrument                        Type           Unit       Attributes
//	gen_ai.client.operation.duration  histogram      s          gen_ai.operation.name, gen_ai.request.model,
//	                                                            gen_ai.response.model, error.type (status code or kind)
//	gen_ai.client.token.usage         histogram      {token}    gen_ai.operation.name, gen_ai.request.model,
//	                                                            gen_ai.response.model, gen_ai.token.type=input|output
//	llmlimit.requests                 counter        {request}  llmlimit.outcome=success|rate_limited|quota_exhausted|
//	                                                            too_large|transient|permanent|canceled|refused
//	llmlimit.retries                  counter        {retry}    llmlimit.retry.cause=rate_limited|transient
//	llmlimit.wait.duration            histogram      s          llmlimit.wait.cause=gate|pacing|slot|backoff
//	llmlimit.cooldowns                counter        {cooldown} llmlimit.cooldown.cause=successes|rate_limit|server_hint
//	llmlimit.slots.limit              gauge          {slot}
//	llmlimit.slots.in_flight          updowncounter  {request}
//	llmlimit.quota.limit              gauge          {unit}     llmlimit.quota.unit=requests|input_tokens|tokens
//	llmlimit.quota.remaining          gauge          {unit}     llmlimit.quota.unit
//	llmlimit.fallbacks                counter        {fallback} llmlimit.fallback.from, llmlimit.fallback.to
//	llmlimit.tagspace.items           counter        {item}     llmlimit.outcome=tagged|cached|failed|not_attempted
//	llmlimit.tagspace.cache.hits      counter        {item}
//	llmlimit.tagspace.batches         counter        {batch}    llmlimit.outcome=served|failed
//	llmlimit.tagspace.batch_jobs      counter        {job}      llmlimit.outcome=submitted|submit_failed|resumed|
//	                                                            collected|given_up
//
// gen_ai.client.operation.duration and gen_ai.client.token.usage count
// attempts, as the server sees them, with the conventions' advisory bucket
// boundaries. llmlimit.requests counts Generate calls by how they ended:
// refused is a call turned away for its wait budget ([*WaitError]).
// llmlimit.wait.duration is the time a call waited before an attempt
// started, by what held it: the cooldown gate, quota pacing, a free slot,
// or the backoff before a retry. The quota gauges show, per unit, the limit
// told or last reported by the server and what its last reply said was
// left; a unit nothing is known of is not observed.
//
// Each Limiter registers a callback for its gauges with mp's meter for as
// long as mp lives; make Limiters once, not per call.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithTracerProvider makes [New] trace every Generate through tp: one span
// per call, "llmlimit.generate", whose events are its waits
// ("llmlimit.wait", with llmlimit.wait.cause and llmlimit.wait.duration in
// seconds) and the cooldowns its attempts fired ("llmlimit.cooldown", with
// llmlimit.cooldown.cause and llmlimit.cooldown.pause), and under it one
// client span per attempt named "{gen_ai.operation.name} {gen_ai.request.model}"
// (generate_content for Gemini, chat otherwise), with the
// GenAI conventions' attributes (those of gen_ai.client.operation.duration,
// and gen_ai.usage.input_tokens and gen_ai.usage.output_tokens) and
// http.request.resend_count on retries. The attempt's context, passed to
// the provider, carries its span, so HTTP client instrumentation nests
// under it. nil, the default, traces nothing and costs nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// instrumentationName is the meter and tracer name.
const instrumentationName = "github.com/llmlimit/llmlimit"

// Attribute keys: the GenAI and HTTP conventions', then llmlimit's own.
const (
	keyOperation     = attribute.Key("gen_ai.operation.name")
	keyProvider      = attribute.Key("gen_ai.provider.name")
	keyRequestModel  = attribute.Key("gen_ai.request.model")
	keyResponseModel = attribute.Key("gen_ai.response.model")
	keyTokenType     = attribute.Key("gen_ai.token.type")
	keyInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	keyErrorType     = attribute.Key("error.type")
	keyResendCount   = attribute.Key("http.request.resend_count")

	keyOutcome       = attribute.Key("llmlimit.outcome")
	keyRetryCause    = attribute.Key("llmlimit.retry.cause")
	keyWaitCause     = attribute.Key("llmlimit.wait.cause")
	keyWaitDuration  = attribute.Key("llmlimit.wait.duration")
	keyCooldownCause = attribute.Key("llmlimit.cooldown.cause")
	keyCooldownPause = attribute.Key("llmlimit.cooldown.pause")
	keyQuotaUnit     = attribute.Key("llmlimit.quota.unit")
	keyFallbackFrom  = attribute.Key("llmlimit.fallback.from")
	keyFallbackTo    = attribute.Key("llmlimit.fallback.to")
)

// gen_ai.operation.name of a Generate, as the conventions name the two
// APIs: Gemini's generateContent is "generate_content" ("multimodal content
// generation operation such as Gemini Generate Content"), OpenAI's chat
// completions, and any other provider's call, "chat".
const (
	operationChat            = "chat"
	operationGenerateContent = "generate_content"
)

// genAIOperation returns gen_ai.operation.name for a gen_ai.provider.name.
func genAIOperation(provider string) string {
	if provider == "gcp.gemini" {
		return operationGenerateContent
	}
	return operationChat
}

// Advisory bucket boundaries of the GenAI client metrics, as the
// conventions give them.
var (
	durationBounds = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBounds    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// waitBounds span a gate's stagger to a per-minute quota's wait and a
	// long server hint.
	waitBounds = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// genAIProvider returns gen_ai.provider.name for a provider's Name.
func genAIProvider(name string) string {
	if name == "gemini" {
		return "gcp.gemini"
	}
	return name
}

// modelDefaulter is implemented by the built-in providers, whose default
// model is the request's model when the request names none.
type modelDefaulter interface{ defaultModel() string }

func (g *Gemini) defaultModel() string { return g.model }
func (o *OpenAI) defaultModel() string { return o.model }

// instrumentErr collects the errors of making instruments, so that a
// constructor reports the first, naming it.
type instrumentErr struct{ err error }

func (e *instrumentErr) keep(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *instrumentErr) result() error {
	if e.err == nil {
		return nil
	}
	return fmt.Errorf("llmlimit: meter provider: %w", e.err)
}

func counter(m metric.Meter, e *instrumentErr, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	e.keep(err)
	return c
}

func secondsHistogram(m metric.Meter, e *instrumentErr, name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	e.keep(err)
	return h
}

// measure returns the option recording one measurement with attrs.
func measure(attrs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attrs...))
}
