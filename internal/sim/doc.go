// Package sim is the simulation benchmark: whole tagging pipelines
// (TagSpace → Fallback → per-provider policy → real SDK clients → the llmtest
// emulator through its in-process transport) run in testing/synctest virtual
// time, over many seeds, and summarized per scenario and policy.
//
// A run is one [Scenario] under one [Policy] with one seed; [RunOnce] builds
// the pipeline, tags a generated space and returns the run's [Metrics].
// [Summarize] folds the runs of a scenario and policy into means and 95%
// intervals, and [WriteTable] and [WriteJSON] print them. The matrix itself
// is driven by TestScenarios (go test ./internal/sim -run TestScenarios -v).
//
// The scenarios meet Gemini's per-minute quotas in the shapes servers
// enforce them: fixed windows at a random phase, a rolling window, a token
// bucket, and fixed windows whose 429s say nothing. The policies are the
// seed patch ([SeedV2]), llmlimit's Limiter with and without the success
// cooldown and told the quota, and an [Oracle] that knows the quotas and
// never sends a request the server would refuse.
//
// Definitions used by every figure (N = operations, the batch calls that
// TagSpace sent through the Fallback; T = makespan, from the start of the run
// to its last reply, in virtual time):
//
//   - primary_share, fallback_share: operations served by Gemini, by OpenAI,
//     over N. An operation served by neither is lost.
//   - primary_bound_share: the most operations any policy could serve on
//     Gemini in a run of T, over N: each quota window the run overlaps
//     counts the most that could start in its part inside the run, the
//     smaller of its quota and what six calls in flight start in that time
//     at Gemini's mean latency; then the per-day cap and N (see [Frame]).
//   - rate_limited_per_op: 429 replies from the Gemini emulator (per-window and
//     per-day) over N.
//   - goodput_share: Gemini successes over the windows' count, the bound
//     before the per-day cap and N. When demand ends inside the last window,
//     no policy can use all of it, so the goals are checked on
//     goodput_attainable_share: Gemini successes over the bound, which equals
//     primary_share / primary_bound_share.
//   - token_goodput_share: Gemini input tokens admitted (the emulator's
//     count) over what the token quota's windows admit, each counted for
//     what the calls that could start in it would take.
//   - first_window_use: Gemini successes started in the first window over
//     its count, for fixed and rolling windows.
//   - op_seconds: T / N, "time per operation" as the seed patch measured it.
//   - p50_seconds, p99_seconds: percentiles of one operation's latency, the
//     virtual duration of its Generate call through the Fallback.
//   - cost_per_100_ops_usd: the emulator's token counters priced at
//     llmlimit.DefaultPrices for each provider's default model, per 100
//     operations.
//   - items_lost: items whose Result has an error, or that have no Result.
//
// This package is internal: its API serves the benchmark and may change.
package sim
