package redisstate

import "github.com/redis/go-redis/v9"

// The scripts keep the model of llmlimit.MemoryState, step for step: the
// gate, the cooldown counters, a learned quota per unit (a fixed window, a
// continuous bucket, or smooth pacing after a contradiction) and a sliding
// log per told quota. KEYS are the same for both scripts:
//
//	1 gate       the instant the gate opens (µs)
//	2 counters   successes, ratelimits, armed
//	3..5 q:<u>   the learned quota of units 0, 1, 2 (requests, input tokens, tokens)
//	6..8 log     the sliding log of the told quota of each unit (a sorted set)
//	9..11 meta   its sum of costs, sequence, smooth flag and next start
//
// Times are µs of Redis's clock. A learned quota's level and capacity are
// in millionths of a unit and its rate in millionths of a unit a second,
// so that every stored number is an integer.
//
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
local M = 1000000

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
-- fields reads a hash's integer fields into a table, absent ones 0, or
-- returns nil when the key is corrupt.
local function fields(key, names)
	local r = read('HMGET', key, unpack(names))
	if not r then return nil end
	local v = {}
	for i, f in ipairs(names) do
		local x = num(r[i])
		if x == false then return nil end
		v[f] = x or 0
	end
	return v
end

local QF = {'limit', 'window', 'refill', 'end', 'used', 'level', 'at', 'rate', 'cap', 'smooth', 'sfor', 'since'}
local TF = {'sum', 'seq', 'smooth', 'next'}
local idle, minWindow, maxWait = 0, 0, 0

local function known(q) return q.limit > 0 end
local function smooth(q) return now < q.smooth end
-- bucketed: the quota paces by its bucket, known and smooth or continuous.
local function bucketed(q) return known(q) and (smooth(q) or q.refill == 1) end
local function levelAt(q) return math.min(q.cap, q.level + q.rate * (now - q.at) / M) end

local function roll(q)
	if q.refill ~= 0 or now < q['end'] then return end
	if q.window < minWindow then
		local s, f = q.smooth, q.sfor
		for _, k in ipairs(QF) do q[k] = 0 end
		q.smooth, q.sfor = s, f
		return
	end
	q['end'] = q['end'] + (math.floor((now - q['end']) / q.window) + 1) * q.window
	q.used = 0
end

-- qwait is how long until a start of cost fits the learned quota: the
-- later of what its fixed window allows and, while smooth or continuous,
-- what its bucket does.
local function qwait(q, cost)
	if not known(q) then return 0 end
	local d = 0
	if q.refill == 0 then
		roll(q)
		if known(q) and q.used > 0 and q.used + cost > q.limit then d = math.max(q['end'] - now, 0) end
	end
	if bucketed(q) then
		local c = math.min(cost * M, q.cap)
		local l = levelAt(q)
		if l < c and q.rate > 0 then d = math.max(d, math.ceil((c - l) / q.rate * M)) end
	end
	return d
end

-- qtake counts a start: a fixed window every one, smooth or not.
local function qtake(q, cost)
	if not known(q) then return end
	if q.refill == 0 then
		roll(q)
		q.used = q.used + cost
	end
	if bucketed(q) then q.level, q.at = levelAt(q) - cost * M, now end
end

-- qsettle settles an attempt admitted at admitted (µs): only in a model
-- that was there when it was admitted, and a fixed window only its own.
local function qsettle(q, delta, admitted)
	if not known(q) or admitted <= q.since then return end
	if q.refill == 0 then
		roll(q)
		if known(q) and admitted >= q['end'] - q.window then q.used = math.max(q.used + delta, 0) end
	end
	if bucketed(q) then q.level, q.at = levelAt(q) - delta * M, now end
end

local function qsave(key, q)
	local args = {}
	for _, k in ipairs(QF) do
		args[#args + 1] = k
		args[#args + 1] = str(q[k])
	end
	redis.call('HSET', key, unpack(args))
	redis.call('PEXPIRE', key, idle)
end

-- tload reads a told quota's log state: its meta fields, with the log's
-- expired starts dropped from the sum. nil when corrupt.
local function tload(log, meta, limit, window)
	local m = fields(meta, TF)
	if not m then return nil end
	m.limit, m.window, m.log, m.key = limit, window, log, meta
	if limit <= 0 then return m end
	local old = read('ZRANGEBYSCORE', log, '-inf', str(now - window))
	if not old then return nil end
	for _, member in ipairs(old) do
		local c = num(string.match(member, ':(%-?%d+)$'))
		if not c then return nil end
		m.sum = m.sum - c
	end
	if #old > 0 then
		-- Dropped from the log, dropped from the sum, on every path.
		redis.call('ZREMRANGEBYSCORE', log, '-inf', str(now - window))
		redis.call('HSET', meta, 'sum', str(m.sum))
	end
	-- The newest start can't be in the future, and every member is
	-- "sequence:cost".
	local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
	if #newest == 2 and (not string.match(newest[1], '^%d+:%-?%d+$') or (tonumber(newest[2]) or math.huge) > now + M) then
		return nil
	end
	return m
end

local function twait(m, cost)
	if m.limit <= 0 then return 0 end
	cost = math.min(cost, m.limit)
	local d = 0
	local over = m.sum + cost - m.limit
	if over > 0 then
		local all = redis.call('ZRANGE', m.log, 0, -1, 'WITHSCORES')
		for i = 1, #all, 2 do
			over = over - (num(string.match(all[i], ':(%-?%d+)$')) or 0)
			if over <= 0 then
				d = (tonumber(all[i + 1]) or now) + m.window - now
				break
			end
		end
	end
	if m.smooth == 1 then d = math.max(d, m.next - now) end
	return math.max(d, 0)
end

local function tsave(m)
	redis.call('HSET', m.key, 'sum', str(m.sum), 'seq', str(m.seq), 'smooth', str(m.smooth), 'next', str(m.next))
	local ttl = str(math.ceil(m.window / 1000) + 1000)
	redis.call('PEXPIRE', m.key, ttl)
	redis.call('PEXPIRE', m.log, ttl)
end

local function ttake(m, cost)
	if m.limit <= 0 then return end
	m.seq = m.seq + 1
	-- Members sort by sequence where starts share a microsecond.
	redis.call('ZADD', m.log, str(now), string.format('%015d', m.seq) .. ':' .. str(cost))
	m.sum = m.sum + cost
	if m.smooth == 1 then m.next = now + math.floor(m.window * cost / m.limit) end
	tsave(m)
end
`

// admitScript is [State.Admit]. KEYS as above. ARGV: the told limit and
// window (µs) of each unit (0 for none), the cost of each unit, idle TTL
// (ms), minimum window (µs), the longest legitimate wait (µs). It returns
// {wait µs, 1 when a quota holds, its unit}, or {0, 0, 0} after counting
// the start.
var admitScript = redis.NewScript(luaCommon + `
idle, minWindow, maxWait = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local g = read('GET', KEYS[1])
local gate = num(g)
if g == nil or gate == false or (gate and gate - now > maxWait) then return corrupt(KEYS[1], 'gate') end
local wait, isq, unit = 0, 0, 0
if gate and gate > now then wait = gate - now end

local qs, ts, had = {}, {}, {}
for u = 0, 2 do
	local q = fields(KEYS[3 + u], QF)
	if not q then return corrupt(KEYS[3 + u], 'quota') end
	local m = tload(KEYS[6 + u], KEYS[9 + u], tonumber(ARGV[1 + u]), tonumber(ARGV[4 + u]))
	if not m then return corrupt(KEYS[6 + u], 'log') end
	qs[u], ts[u], had[u] = q, m, known(q)
	local cost = tonumber(ARGV[7 + u])
	if u == 0 or cost > 0 then
		for _, d in ipairs({twait(m, cost), qwait(q, cost)}) do
			if d > maxWait then return corrupt(KEYS[3 + u], 'quota') end
			if d > wait then wait, isq, unit = d, 1, u end
		end
	end
end
if wait > 0 then return {wait, isq, unit} end
for u = 0, 2 do
	local cost = tonumber(ARGV[7 + u])
	ttake(ts[u], cost)
	qtake(qs[u], cost)
	-- A window forgotten at its end is saved forgotten.
	if had[u] then qsave(KEYS[3 + u], qs[u]) end
end
return {0, 0, 0}
`)

// recordScript is [State.Record]. KEYS as above. ARGV: outcome ("s"
// success, "r" retryable 429, "o" other), retry hint (µs), successes per
// cooldown, success cooldown (µs), whether always ("1"), 429s per cooldown,
// 429 cooldown (µs), idle TTL (ms), minimum window (µs), the told limit
// and window (µs) of each unit, the settled difference of input tokens and
// of tokens, when the attempt was admitted (µs, by the Limiter's clock:
// a fixed window settles only its own attempts), the input tokens and
// tokens it reserved, llmlimit's smooth-pacing constants (the windows of a
// first smooth spell, its burst in millionths of the limit), the number of
// quotas reported, then for each: unit, limit, remaining, reset (µs),
// window (µs), refill (1 continuous), refused ("1"). It returns the
// cooldowns fired: {successes, rate limit, server hint}, each 0 or 1.
var recordScript = redis.NewScript(luaCommon + `
idle, minWindow = tonumber(ARGV[8]), tonumber(ARGV[9])
local g = read('GET', KEYS[1])
local gate = num(g)
if g == nil or gate == false then return corrupt(KEYS[1], 'gate') end
local c = fields(KEYS[2], {'successes', 'ratelimits', 'armed'})
if not c then return corrupt(KEYS[2], 'counters') end
local qs, ts = {}, {}
for u = 0, 2 do
	qs[u] = fields(KEYS[3 + u], QF)
	if not qs[u] then return corrupt(KEYS[3 + u], 'quota') end
	ts[u] = tload(KEYS[6 + u], KEYS[9 + u], tonumber(ARGV[10 + u]), tonumber(ARGV[13 + u]))
	if not ts[u] then return corrupt(KEYS[6 + u], 'log') end
end

local function extend(untilT)
	gate = gate or 0
	if untilT > gate then
		gate = untilT
		redis.call('SET', KEYS[1], str(untilT), 'PXAT', str(math.floor(untilT / 1000) + 1000))
		return true
	end
	return false
end

-- Settle what the attempt used beyond what it reserved.
local admitted = tonumber(ARGV[18])
local reserved = {[0] = 1, [1] = tonumber(ARGV[19]), [2] = tonumber(ARGV[20])}
local dirty = {}
for u = 1, 2 do
	local delta = tonumber(ARGV[15 + u])
	if delta ~= 0 then
		local m = ts[u]
		if m.limit > 0 then
			local newest = redis.call('ZREVRANGE', m.log, 0, 0, 'WITHSCORES')
			if #newest == 2 then
				local seq, cost = string.match(newest[1], '^(%d+):(%-?%d+)$')
				if cost then
					local nc = math.max(tonumber(cost) + delta, 0)
					redis.call('ZREM', m.log, newest[1])
					redis.call('ZADD', m.log, newest[2], seq .. ':' .. str(nc))
					m.sum = m.sum + nc - tonumber(cost)
					tsave(m)
				end
			end
		end
		qsettle(qs[u], delta, admitted)
		dirty[u] = true
	end
end

-- Learn what the reply said about the quotas.
local explained, contradicted = false, false
local smoothWindows, smoothBurst = tonumber(ARGV[21]), tonumber(ARGV[22]) / M
local n = tonumber(ARGV[23])
for i = 0, n - 1 do
	local b = 24 + i * 7
	local u, lim, rem, reset, wlen, cont, refused =
		tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]),
		tonumber(ARGV[b + 4]), ARGV[b + 5] == '1', ARGV[b + 6] == '1'
	local q = qs[u]
	if refused and lim > 0 then explained = true end
	if lim > 0 then
		-- A refusal contradicts the model when the model admitted the
		-- attempt (after it was learned) and still has room for it.
		local contra = refused and known(q) and q.limit == lim and admitted > q.since and qwait(q, math.max(reserved[u], 1)) == 0
		if contra then
			contradicted = true
			q.sfor = math.max(2 * q.sfor, smoothWindows)
			local w = q.window
			if w <= 0 then w = 60 * M end
			q.smooth = now + q.sfor * w
		end
		if cont then
			local rate
			if rem >= 0 and rem < lim and reset > 0 then rate = (lim - rem) * M / (reset / M)
			elseif wlen > 0 then rate = lim * M / (wlen / M)
			else rate = lim * M / 60 end
			local level = lim * M
			if known(q) and q.refill == 1 then level = levelAt(q) end
			if rem >= 0 then level = math.min(level, rem * M) end
			if refused then level = 0 end
			if not known(q) then q.since = now end
			q.limit, q.window, q.refill, q.rate, q.cap, q.level, q.at = lim, wlen, 1, rate, lim * M, level, now
		elseif reset > 0 then
			local used = lim
			if rem >= 0 then used = lim - math.min(rem, lim) end
			local e = now + reset
			if q.refill == 0 and q.limit == lim and math.abs(e - q['end']) < M then
				q.used = math.max(q.used, used)
			else
				if not known(q) then q.since = now end
				q.limit, q.window, q.refill, q['end'], q.used = lim, wlen, 0, e, used
			end
		end
		if smooth(q) then
			local w = q.window
			if w <= 0 then w = 60 * M end
			local level = levelAt(q)
			if q.refill == 0 or refused then level = 0 end
			q.cap = math.max(M, math.floor(smoothBurst * q.limit * M))
			q.rate = math.max(q.limit * M - q.cap, M) / (w / M)
			q.level, q.at = math.min(level, q.cap), now
		end
		dirty[u] = true
	end
	local m = ts[u]
	if refused and m.limit > 0 and m.smooth == 0 then
		m.smooth, contradicted = 1, true
		tsave(m)
	end
end
for u = 0, 2 do
	if dirty[u] then qsave(KEYS[3 + u], qs[u]) end
end

local fs, fr, fh = 0, 0, 0
local per, pause, always = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
if ARGV[1] == 's' then
	c.ratelimits = 0
	if per > 0 and pause > 0 and (always or c.armed == 1) then
		c.successes = c.successes + 1
		if c.successes >= per then
			c.successes, c.armed = 0, 0
			extend(now + pause)
			fs = 1
		end
	end
elseif ARGV[1] == 'r' then
	if not explained or contradicted then c.armed = 1 end
	local hint = tonumber(ARGV[2])
	if hint > 0 and extend(now + hint) then fh = 1 end
	local per429, pause429 = tonumber(ARGV[6]), tonumber(ARGV[7])
	c.ratelimits = c.ratelimits + 1
	if per429 > 0 and pause429 > 0 and c.ratelimits >= per429 then
		c.ratelimits = 0
		extend(now + pause429)
		fr = 1
	end
end
if ARGV[1] ~= 'o' then
	redis.call('HSET', KEYS[2], 'successes', str(c.successes), 'ratelimits', str(c.ratelimits), 'armed', str(c.armed))
	redis.call('PEXPIRE', KEYS[2], idle)
end
return {fs, fr, fh}
`)
