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
// Definitions used by every figure (N = operations, the batch calls that
// TagSpace sent through the Fallback; T = makespan, from the start of the run
// to its last reply, in virtual time; Q = the primary's request quota per
// window W):
//
//   - primary_share, fallback_share: operations served by Gemini, by OpenAI,
//     over N. An operation served by neither is lost.
//   - primary_bound_share: min(1, Q × windows overlapped by [0, T], per-day
//     cap) / N, the most any policy could serve on Gemini in a run of T.
//   - rate_limited_per_op: 429 replies from the Gemini emulator (per-window and
//     per-day) over N.
//   - goodput_share: Gemini successes over min(Q × windows, per-day cap), as
//     issue 5 defines it. When demand ends inside the last window, no policy
//     can use all of it, so the goals are checked on
//     goodput_attainable_share: Gemini successes over min(N, Q × windows,
//     per-day cap), which equals primary_share / primary_bound_share.
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
