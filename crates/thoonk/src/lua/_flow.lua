-- Shared prelude: flow control, which claim.lua applies for the whole
-- fleet (every worker's claims go through it), from the queue's settings
-- in job.config (set by configure.lua):
--   paused       no claim succeeds;
--   max_running  at most this many jobs claimed at once (job.claimed,
--                v1 claims included);
--   rate         'N/MS': at most N jobs claimed in any MS ms of server
--                time. job.rate lists the claim time of each job claimed
--                in the last MS ms, oldest first: exact over any window,
--                at most N entries (configure.lua bounds N).
-- A claim held back answers how long until one may get more (its hold):
-- the worker waits that long, with no claim meanwhile. The claim that
-- fills the rate window also tells every worker (event.job.held, payload
-- the hold in ms), so that none asks a full window to learn it is full.

-- Paused: claims are tried again after this (ms), or at once when the
-- worker hears event.job.config (a resume sends it).
local PAUSED_HOLD = 1000
-- max_running reached: claims are tried again after this (ms).
local RUNNING_HOLD = 50
-- The hold a claim answers when a rate limit let all of it through: none,
-- but the worker may leave the probing of a full window to one of its
-- paths (its finishers then claim no refills).
local RATE_LIMITED = -2
-- Most expired entries of job.rate one claim drops: the rest go with the
-- next claims (until then they count, holding back, never letting more
-- through), so no claim's work grows with the limit.
local RATE_DROP = 1000

-- 'N/MS' as N and MS, or nil for a setting this script cannot read
-- (another program wrote it): no limit, rather than a failing claim.
local function rate_of(text)
  local n, ms = string.match(text, '^(%d+)/(%d+)$')
  n, ms = tonumber(n), tonumber(ms)
  if n and n >= 1 and ms >= 1 then return n, ms end
  return nil
end

-- In how many ms the window, full now, has room for `want` jobs (or all
-- of its n): when its want-th oldest entry leaves. A worker held back
-- then claims a batch, not one job at each entry's leaving.
local function rate_wait(rate, n, period, now, want)
  local at = tonumber(redis.call('LINDEX', rate, tostring(math.min(want, n) - 1)))
  return math.max(0, at - (now - period))
end

-- Drops job.rate's entries that left the window (at most RATE_DROP) and
-- returns how many jobs the window holds and has room for now, and when
-- it has no room, in how many ms it will have room for `want`.
local function rate_room(rate, n, period, now, want)
  local head = redis.call('LRANGE', rate, '0', tostring(RATE_DROP - 1))
  local gone = 0
  while gone < #head and tonumber(head[gone + 1]) <= now - period do gone = gone + 1 end
  if gone > 0 then redis.call('LTRIM', rate, gone, -1) end
  local used = redis.call('LLEN', rate)
  if used < n then return used, n - used, 0 end
  return used, 0, rate_wait(rate, n, period, now, want)
end

-- For a claim that wants `want` jobs under `flow` (the values of paused,
-- rate and max_running, at least one set): how many it may claim, the
-- hold when that is none, and the rate window to record its claims in
-- (flow_took), or nil when no rate is set.
local function flow_room(flow, claimed, rate, want, now)
  if flow[1] then return 0, PAUSED_HOLD, nil end
  local room = want
  local max_running = flow[3] and kept_whole(flow[3], 1, MAX_COUNT, nil)
  if max_running then
    room = math.min(room, max_running - redis.call('ZCARD', claimed))
    if room <= 0 then return 0, RUNNING_HOLD, nil end
  end
  local n, period
  if flow[2] then n, period = rate_of(flow[2]) end
  if not n then return room, -1, nil end
  local used, free, wait = rate_room(rate, n, period, now, want)
  if free == 0 then return 0, wait, nil end
  return math.min(room, free), -1, {n, period, used, want}
end

-- Records `took` jobs claimed at `now` (its text `stamp`) in the rate
-- window. Returns the hold for the next claim: when the window is full
-- now, in how many ms it has room for as many as this claim wanted; else
-- RATE_LIMITED.
local function flow_took(rate, window, took, now, stamp, held_channel)
  local n, period, used, want = window[1], window[2], window[3] + took, window[4]
  local stamps = {}
  for k = 1, took do stamps[k] = stamp end
  call_many('RPUSH', rate, stamps)
  redis.call('PEXPIRE', rate, period)
  if used < n then return RATE_LIMITED end
  local hold = rate_wait(rate, n, period, now, want)
  redis.call('PUBLISH', held_channel, tostring(hold))
  return hold
end
