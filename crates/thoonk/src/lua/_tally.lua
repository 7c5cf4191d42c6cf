-- Shared prelude: a queue's tally, job.tally:NAME, one string of a fixed
-- size (TALLY_BYTES): the jobs published, finished, cancelled, stalled and
-- recovered per minute over the last 24 hours and per day over the last
-- 90 days, and how long finished jobs ran, per minute over the last hour
-- and in all. The scripts that count (publish, fire_schedule, finish,
-- cancel, stall, recover) add to it with one BITFIELD a call, whatever
-- the batch; tally.lua reads it.
--
-- Layout, from bit 0 (every field big-endian and on a byte boundary, as
-- BITFIELD writes them, so a reader needs no bit arithmetic):
--   minutes  1440 slots of 24 bytes: the minute (Unix minutes, u32), then
--            five u32 counts: publishes, finishes, cancels, stalls,
--            recoveries. A minute's slot: minute % 1440.
--   days     90 slots of 34 bytes: the day (Unix days, u32), then the
--            same five counts as u48. A day's slot: day % 90.
--   runs     60 slots of 102 bytes: the minute (u32), the longest run of
--            the minute (ms, u32), the sum of its runs (ms, u48), then
--            RUN_BUCKETS u32 counts.
--   total    RUN_BUCKETS i64 counts, then the sum of those runs (ms,
--            i64), of every minute whose run slot was reused since the
--            key began: with the run slots, Prometheus's histogram. (A
--            finish adds to its minute's slot only; the slot's runs go to
--            the total when a later minute takes the slot: fields a call
--            adds to cost Redis about 4k instructions each.)
-- Run bucket b counts the runs of at most 2^b ms (b = 0 .. 20: 1 ms to
-- 17.5 min); the last one, those longer.
--
-- Nothing here ages by deleting: a slot whose minute (or day) is not the
-- one its place stands for now is stale; a reader skips it, and the first
-- write of its new minute overwrites it. So the key's size is fixed,
-- whatever the traffic. Its TTL, renewed at most once a minute, outlasts
-- the 90 days: an abandoned queue's tally goes away by itself.
-- A v1 program's publish or finish counts in job.publishes and
-- job.finishes only: its scripts know nothing of this key.

local TALLY_COUNTS = 5
local RUN_BUCKETS = 22
local MINUTE_SLOTS, DAY_SLOTS, RUN_SLOTS = 1440, 90, 60
local MINUTE_BITS, DAY_BITS, RUN_BITS = 192, 272, 112 + 32 * RUN_BUCKETS
local DAYS_AT = MINUTE_SLOTS * MINUTE_BITS
local RUNS_AT = DAYS_AT + DAY_SLOTS * DAY_BITS
local TOTAL_AT = RUNS_AT + RUN_SLOTS * RUN_BITS
local SUM_AT = TOTAL_AT + 64 * RUN_BUCKETS
local TALLY_BYTES = SUM_AT / 8 + 8
local TALLY_TTL_MS = 91 * 86400000
local MAX_U32 = 4294967295

-- Numbers as Redis takes them, text: Redis 7.0 turns a Lua number it is
-- given into text with a printf, and so does Lua's own tostring, at a
-- cost of thousands of instructions each. Offsets (below 10^6) and most
-- counts are put together from two tables of 1000 texts each, made by
-- the first call after the library loads (tostring is not there while it
-- loads).
local TEXT, TEXT3
local function text(n)
  if not TEXT then
    TEXT, TEXT3 = {}, {}
    for i = 0, 999 do
      TEXT[i] = tostring(i)
      TEXT3[i] = string.sub(tostring(1000 + i), 2)
    end
  end
  if n < 1000 then return TEXT[n] end
  if n < 1000000 then return TEXT[math.floor(n / 1000)] .. TEXT3[n % 1000] end
  return tostring(n)
end

-- The bucket of a run of `ms` ms (see above): frexp gives ms = m * 2^e
-- with 0.5 <= m < 1, so the smallest b with ms <= 2^b is e, or e - 1
-- for a power of 2; no loop over the buckets.
local function run_bucket(ms)
  if ms <= 1 then return 0 end
  local m, e = math.frexp(ms)
  if m == 0.5 then e = e - 1 end
  if e >= RUN_BUCKETS then return RUN_BUCKETS - 1 end
  return e
end

-- The big-endian number in `width` bytes of `bytes` from byte `at` (1-based).
local function read_uint(bytes, at, width)
  local n = 0
  for i = at, at + width - 1 do n = n * 256 + string.byte(bytes, i) end
  return n
end

-- Appends SET kind at v to the BITFIELD arguments `fix` (nf of them so
-- far); returns their new count.
local function tally_set(fix, nf, kind, at, v)
  fix[nf + 1], fix[nf + 2], fix[nf + 3], fix[nf + 4] = 'SET', kind, text(at), text(v)
  return nf + 4
end

-- Before a minute takes the run slot at `r_at`: the runs of the minute
-- that had it go to the total (its slot now also holds this call's runs,
-- `per` per bucket and `sum`, which stay out). Appends the INCRBYs to the
-- BITFIELD arguments `fix` (nf of them so far); returns their new count.
local function roll_runs(key, r_at, per, sum, fix, nf)
  local slot = redis.call('GETRANGE', key, r_at / 8, (r_at + RUN_BITS) / 8 - 1)
  if #slot < RUN_BITS / 8 or read_uint(slot, 1, 4) == 0 then return nf end
  for b = 0, RUN_BUCKETS - 1 do
    local v = read_uint(slot, 15 + 4 * b, 4) - (per[b] or 0)
    if v > 0 then
      fix[nf + 1], fix[nf + 2], fix[nf + 3], fix[nf + 4] = 'INCRBY', 'i64', text(TOTAL_AT + 64 * b), text(v)
      nf = nf + 4
    end
  end
  local v = read_uint(slot, 9, 6) - sum
  if v > 0 then
    fix[nf + 1], fix[nf + 2], fix[nf + 3], fix[nf + 4] = 'INCRBY', 'i64', text(SUM_AT), text(v)
    nf = nf + 4
  end
  return nf
end

-- The index of the one count of `counts` that is not 0, or nil.
local function sole(counts)
  local at
  for c = 1, TALLY_COUNTS do
    if counts[c] > 0 then
      if at then return nil end
      at = c
    end
  end
  return at
end

-- The minute's first write: its slots are stale (they counted an old
-- minute's or day's counts and this call's together) and set to this
-- call's alone (`counts`, and the runs: `per` bucket, their `sum` and the
-- `longest`); the day slot only if it is another day's.
local function new_minute(key, minute, day, m_at, d_at, r_at, counts, per, sum, longest)
  local fix, nf = {'OVERFLOW', 'SAT'}, 2
  nf = tally_set(fix, nf, 'u32', m_at, minute)
  for c = 1, TALLY_COUNTS do nf = tally_set(fix, nf, 'u32', m_at + 32 * c, counts[c]) end
  if redis.call('BITFIELD', key, 'GET', 'u32', text(d_at))[1] ~= day then
    nf = tally_set(fix, nf, 'u32', d_at, day)
    for c = 1, TALLY_COUNTS do nf = tally_set(fix, nf, 'u48', d_at + 32 + 48 * (c - 1), counts[c]) end
  end
  nf = roll_runs(key, r_at, per, sum, fix, nf)
  nf = tally_set(fix, nf, 'u32', r_at, minute)
  nf = tally_set(fix, nf, 'u32', r_at + 32, longest)
  nf = tally_set(fix, nf, 'u48', r_at + 64, sum)
  for b = 0, RUN_BUCKETS - 1 do nf = tally_set(fix, nf, 'u32', r_at + 112 + 32 * b, per[b] or 0) end
  -- Redis makes a new string exactly as long as its first write asks,
  -- but doubles the room of one that grows: a key grown by a later
  -- write (a finish after a publish made it) would take twice its size
  -- for good. Written anew at its full size, it takes its size.
  if redis.call('STRLEN', key) < TALLY_BYTES then
    local value = redis.call('GET', key)
    redis.call('SET', key, value .. string.rep('\0', TALLY_BYTES - #value))
  end
  redis.call('PEXPIRE', key, TALLY_TTL_MS)
  redis.call('BITFIELD', key, unpack(fix))
end

-- Adds `counts` (five numbers, in the layout's order) at `now` (server ms)
-- to the minute's and the day's slots, and, when `runs` (a list of run
-- lengths in ms) is given, the runs to the minute's run slot and to the
-- total. One BITFIELD; more, at most once a minute, at the minute's first
-- write (its slots are reset), and one when the minute's longest run
-- grew.
local function tally(key, now, counts, runs)
  local minute = math.floor(now / 60000)
  local day = math.floor(minute / 1440)
  local m_at = (minute % MINUTE_SLOTS) * MINUTE_BITS
  local d_at = DAYS_AT + (day % DAY_SLOTS) * DAY_BITS
  local r_at = RUNS_AT + (minute % RUN_SLOTS) * RUN_BITS
  -- Replies come in the order of the GETs and INCRBYs: the minute slot's
  -- own minute first, then (runs) the minute's longest run. Only the
  -- minute slot's is read: the first write of a minute, whatever script
  -- makes it, sets the day slot right and resets the minute's run slot
  -- (below), so that once the minute slot is the minute's, so are they.
  -- (Most calls count one thing and no runs: a publish, a stall. They
  -- build no table: in a call this small, the Lua collector's share of
  -- what a table allocates costs more than the BITFIELD.)
  local only = not runs and sole(counts)
  if only then
    local v = text(counts[only])
    local got = redis.call('BITFIELD', key, 'OVERFLOW', 'SAT', 'GET', 'u32', text(m_at),
      'INCRBY', 'u32', text(m_at + 32 * only), v, 'INCRBY', 'u48', text(d_at + 32 + 48 * (only - 1)), v)
    if got[1] ~= minute then new_minute(key, minute, day, m_at, d_at, r_at, counts, {}, 0, 0) end
    return
  end
  local args = {'OVERFLOW', 'SAT', 'GET', 'u32', text(m_at)}
  local n = 5
  local per, longest, sum = {}, 0, 0
  if runs then
    args[6], args[7], args[8] = 'GET', 'u32', text(r_at + 32)
    n = 8
    for i = 1, #runs do
      local ms = runs[i]
      local b = run_bucket(ms)
      per[b] = (per[b] or 0) + 1
      sum = sum + ms
      if ms > longest then longest = ms end
    end
    if longest > MAX_U32 then longest = MAX_U32 end
    for b, v in pairs(per) do
      args[n + 1], args[n + 2], args[n + 3], args[n + 4] = 'INCRBY', 'u32', text(r_at + 112 + 32 * b), text(v)
      n = n + 4
    end
    args[n + 1], args[n + 2], args[n + 3], args[n + 4] = 'INCRBY', 'u48', text(r_at + 64), text(sum)
    n = n + 4
  end
  for c = 1, TALLY_COUNTS do
    local v = counts[c]
    if v > 0 then
      args[n + 1], args[n + 2], args[n + 3], args[n + 4] = 'INCRBY', 'u32', text(m_at + 32 * c), text(v)
      args[n + 5], args[n + 6], args[n + 7], args[n + 8] = 'INCRBY', 'u48', text(d_at + 32 + 48 * (c - 1)), text(v)
      n = n + 8
    end
  end
  local got = redis.call('BITFIELD', key, unpack(args))

  if got[1] ~= minute then
    new_minute(key, minute, day, m_at, d_at, r_at, counts, per, sum, longest)
  elseif runs and longest > got[2] then
    redis.call('BITFIELD', key, 'OVERFLOW', 'SAT', 'SET', 'u32', text(r_at + 32), text(longest))
  end
end
