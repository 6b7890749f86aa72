// Package redisstate keeps an [llmlimit.State] in Redis, so that every
// replica of a service shares one quota: the cooldown gate, the success and
// consecutive-429 counters, and quota pacing. A Gemini or OpenAI quota
// belongs to a project or an API key, not to a process; Limiters in several
// processes that each keep their own state overrun it together and learn
// about it only through 429s.
//
//	rc := redisstate.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	shared := redisstate.New(rc, redisstate.Key("gemini", "gemini-2.5-flash", apiKey))
//	l, err := llmlimit.New(llmlimit.NewGemini(gc, "gemini-2.5-flash"),
//		llmlimit.WithState(shared), llmlimit.WithRequestsPerMinute(60))
//
// # Model
//
// Every operation is one Lua script run atomically by Redis (EVALSHA, with
// EVAL when the script is not cached), and the script reads the time with
// TIME: Redis's clock is the only clock, so replicas whose clocks disagree
// still agree on the gate and the windows. The semantics are exactly those of
// [llmlimit.MemoryState], and the tests run one table against both:
//
//   - The gate only moves forward. A success that completes the Nth success
//     moves it to now + SuccessCooldown, a 429 with a retry hint to now + the
//     hint, the Nth consecutive 429 to now + RateLimitCooldown. The success
//     cooldown stands down while the quota is known: a rate was given to
//     the last Admit of this State, or a limit was learned.
//   - A known rate (Requests per Per) is a sliding log: a start is admitted
//     only while fewer than Requests starts happened in the last Per, so any
//     fixed window of length Per, whatever its phase, holds at most Requests
//     starts. A token bucket (GCRA) with burst Q would admit about 2Q in some
//     window of rate Q per window; the log needs no such care.
//   - A learned window (limit, end, used; from what the server reported) rolls
//     over by its length, and a window shorter than a second is forgotten at
//     its end.
//
// Times are kept in microseconds since the Unix epoch, as Redis TIME gives
// them.
//
// # Keys
//
// Every key starts with "llmlimit:{" + key + "}:", where key is [New]'s key
// (usually built by [Key], which stores no API key, only a hash). The braces
// are a hash tag: in a Redis Cluster every key of one quota is in one slot,
// and each script touches only the keys it is given.
//
//	prefix + "gate"           string: the gate's end, µs. Expires 1 s after the
//	                          gate opens: an absent gate is an open one.
//	prefix + "counters"       hash: successes (toward the success cooldown) and
//	                          ratelimits (consecutive 429s). Expires after 1 h
//	                          without a write; Reset deletes it.
//	prefix + "window"         hash: limit, window (µs), end (µs), used: the
//	                          learned window. Expires after 1 h without a write.
//	prefix + "log:" + R + "/" + P
//	                          sorted set: the starts of the last P µs for the
//	                          rate of R requests per P µs, scored by their time.
//	                          Expires P + 1 s after the last start. A Limiter
//	                          given another rate starts a new log, as
//	                          MemoryState does; the old one is left to expire,
//	                          so replicas configured with different rates
//	                          (during a rolling deploy) each keep to theirs
//	                          instead of wiping each other's log.
//
// # Failures
//
// A Limiter bounds every call to its State with a short timeout and, when the
// State fails, limits with a private in-memory state until Redis answers
// again: an outage degrades to per-process limits, never to unlimited calls
// and never to a hang. For the timeout to cut a hung connection short, give
// the client ContextTimeoutEnabled: true. Without it go-redis would wait for
// its own ReadTimeout, so State then runs each command in a goroutine and
// returns when ctx is done; the goroutine ends at the client's timeout.
//
// A broken or hostile server (or a proxy, or anything on the path) fails a
// call, never the process:
//
//   - A panic in the client is the call's error, with the panic's value.
//     go-redis panics on a length near 2^63, which it allocates before it
//     reads.
//   - A client of [NewClient] refuses any reply over 64 KiB as it reads it,
//     so a length of 1e9 costs nothing rather than a gigabyte and seconds;
//     a State's replies are a few integers. A client the caller builds and
//     shares with commands of its own has no such bound, since its other
//     replies may be large: give States their own client of NewClient. A
//     Cluster, Ring or Sentinel client has none either.
//   - A wait read from Redis is at most 24 h, the longest cooldown or hint
//     a Limiter writes (or the rate's period, if longer); a longer or
//     negative one is refused. A key holding what no script writes (a gate
//     a year ahead, "inf", another type) is deleted by the script that meets
//     it, which fails that call, so the next finds the state healed.
//
// go-redis prints its own lines (a failed dial, every time) on stderr, through
// one logger for the whole process. A State never replaces it; a program
// that wants them in its own log calls redis.SetLogger([Logger](l)), which
// puts a State's lines at Debug (its errors already reach the Limiter's
// log), or silences go-redis with its logging.Disable.
package redisstate
