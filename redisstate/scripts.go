package redisstate

import "github.com/redis/go-redis/v9"

// luaCommon opens every script. Redis before 5 refuses writes after TIME
// unless the script replicates its effects rather than itself.
//
// Numbers are written with str: Lua's own conversion keeps 14 significant
// digits, and a time in microseconds has 16.
//
// A key that holds what no script writes (another type, a number that is
// not finite or not whole, a time too far ahead) is corrupt: a script
// deletes it and fails, so that this call is answered locally and the next
// finds the state healed rather than failing, or waiting, until the key
// expires, which it may never do. Lua reads "inf" and "nan" as numbers,
// and Redis turns them into -2^63 when a script returns them.
const luaCommon = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function str(x) return string.format('%.0f', x) end

local function corrupt(key, what)
	redis.call('DEL', key)
	return redis.error_reply('ERR corrupt ' .. what .. ' in ' .. key .. ', deleted')
end
-- read runs a read of a key; it returns nil when the key holds another
-- type (an absent key or field reads as false).
local function read(...)
	local r = redis.pcall(...)
	if type(r) == 'table' and r.err then return nil end
	return r
end
-- num is a stored integer, as str writes them: nil when absent, false when
-- anything else.
local function num(s)
	if not s then return nil end
	if type(s) == 'string' and #s <= 18 and string.match(s, '^%-?%d+$') then return tonumber(s) end
	return false
end
-- window reads the learned window: limit, length, end and used, or nil
-- when the key is corrupt.
local function window(key)
	local w = read('HMGET', key, 'limit', 'window', 'end', 'used')
	if not w then return nil end
	local v = {}
	for i = 1, 4 do
		local x = num(w[i])
		if x == false then return nil end
		v[i] = x or 0
	end
	return v
end
`

// admitScript is [State.Admit]. KEYS: gate, window, log. ARGV: requests,
// per (µs), idle TTL (ms), minimum window (µs), the longest legitimate
// wait (µs). It returns the wait in µs, or 0 after counting the start.
var admitScript = redis.NewScript(luaCommon + `
local n, per, idle, minWindow, maxWait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = 0
local g = read('GET', KEYS[1])
local gate = num(g)
if g == nil or gate == false or (gate and gate - now > maxWait) then return corrupt(KEYS[1], 'gate') end
if gate and gate > now then wait = gate - now end

if n > 0 then
	-- Starts at least per ago no longer hold anything back.
	if not read('ZREMRANGEBYSCORE', KEYS[3], '-inf', str(now - per)) then return corrupt(KEYS[3], 'log') end
	local count = redis.call('ZCARD', KEYS[3])
	if count >= n then
		local nth = redis.call('ZRANGE', KEYS[3], count - n, count - n, 'WITHSCORES')
		local w = num(nth[2])
		if not w or w + per - now > maxWait then return corrupt(KEYS[3], 'log') end
		wait = math.max(wait, w + per - now)
	end
end

local w = window(KEYS[2])
if not w then return corrupt(KEYS[2], 'window') end
local limit, wlen, wend, used = w[1], w[2], w[3], w[4]
if limit > 0 and now >= wend then
	if wlen < minWindow then
		redis.call('DEL', KEYS[2])
		limit, used = 0, 0
	else
		wend = wend + (math.floor((now - wend) / wlen) + 1) * wlen
		used = 0
		redis.call('HSET', KEYS[2], 'end', str(wend), 'used', '0')
		redis.call('PEXPIRE', KEYS[2], idle)
	end
end
if limit > 0 and used >= limit then
	if wend - now > maxWait then return corrupt(KEYS[2], 'window') end
	wait = math.max(wait, wend - now)
end
if wait > 0 then return wait end

if n > 0 then
	-- Members must be unique; two starts may share a microsecond.
	local m, i = str(now), 0
	while redis.call('ZSCORE', KEYS[3], m) do
		i = i + 1
		m = str(now) .. '-' .. i
	end
	redis.call('ZADD', KEYS[3], str(now), m)
	redis.call('PEXPIRE', KEYS[3], str(math.ceil(per / 1000) + 1000))
end
if limit > 0 then
	redis.call('HINCRBY', KEYS[2], 'used', 1)
	redis.call('PEXPIRE', KEYS[2], idle)
end
return 0
`)

// recordScript is [State.Record]. KEYS: gate, counters, window. ARGV:
// outcome ("s" success, "r" rate limited), whether a rate limit was
// reported ("1"), its limit, remaining, reset (µs) and window (µs), the
// retry hint (µs), successes per cooldown, success cooldown (µs), 429s per
// cooldown, 429 cooldown (µs), idle TTL (ms), whether a rate is known
// ("1"). It returns the cooldowns
// fired: {successes, rate limit, server hint}, each 0 or 1.
var recordScript = redis.NewScript(luaCommon + `
local idle = ARGV[12]

local g = read('GET', KEYS[1])
local gate = num(g)
if g == nil or gate == false then return corrupt(KEYS[1], 'gate') end
local c = read('HMGET', KEYS[2], 'successes', 'ratelimits')
if not c or num(c[1]) == false or num(c[2]) == false then return corrupt(KEYS[2], 'counters') end
if not window(KEYS[3]) then return corrupt(KEYS[3], 'window') end

local function extend(untilT)
	gate = gate or 0
	if untilT > gate then
		gate = untilT
		redis.call('SET', KEYS[1], str(untilT), 'PXAT', str(math.floor(untilT / 1000) + 1000))
		return true
	end
	return false
end

local function learn()
	if ARGV[2] ~= '1' then return end
	local lim, rem, reset, wlen = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
	if lim <= 0 or reset <= 0 then return end
	local used = lim
	if rem >= 0 then used = lim - math.min(rem, lim) end
	local e = now + reset
	local w = redis.call('HMGET', KEYS[3], 'limit', 'end', 'used')
	-- A reply from the same window can only raise the count used, since
	-- replies arrive out of order; one from a new window replaces it.
	if tonumber(w[1]) == lim and math.abs(e - (tonumber(w[2]) or 0)) < 1000000 then
		if used > (tonumber(w[3]) or 0) then redis.call('HSET', KEYS[3], 'used', str(used)) end
	else
		redis.call('HSET', KEYS[3], 'limit', str(lim), 'window', str(wlen), 'end', str(e), 'used', str(used))
	end
	redis.call('PEXPIRE', KEYS[3], idle)
end

local fs, fr, fh = 0, 0, 0
if ARGV[1] == 's' then
	learn()
	redis.call('HSET', KEYS[2], 'ratelimits', '0')
	local per, pause = tonumber(ARGV[8]), tonumber(ARGV[9])
	-- The success cooldown guesses at a quota nobody told; it stands down
	-- once pacing knows the quota, told or learned.
	local known = ARGV[13] == '1' or (tonumber(redis.call('HGET', KEYS[3], 'limit')) or 0) > 0
	if per > 0 and pause > 0 and not known then
		if redis.call('HINCRBY', KEYS[2], 'successes', 1) >= per then
			redis.call('HSET', KEYS[2], 'successes', '0')
			extend(now + pause)
			fs = 1
		end
	end
	redis.call('PEXPIRE', KEYS[2], idle)
elseif ARGV[1] == 'r' then
	learn()
	local hint = tonumber(ARGV[7])
	if hint > 0 and extend(now + hint) then fh = 1 end
	local per, pause = tonumber(ARGV[10]), tonumber(ARGV[11])
	if redis.call('HINCRBY', KEYS[2], 'ratelimits', 1) >= per and per > 0 and pause > 0 then
		redis.call('HSET', KEYS[2], 'ratelimits', '0')
		extend(now + pause)
		fr = 1
	end
	redis.call('PEXPIRE', KEYS[2], idle)
end
return {fs, fr, fh}
`)
