-- Shared prelude (prepended to the scripts that refuse a job): names the
-- state a job is in, so a refusal can say "it is stalled", not just "no".
-- A job exists while its item does; claimed, stalled and delayed are
-- recorded in their own keys; any other existing job is in job.ids.
local function job_state(items, claimed, stalled, delayed, id)
  if redis.call('HEXISTS', items, id) == 0 then return 'missing' end
  if redis.call('ZSCORE', claimed, id) then return 'claimed' end
  if redis.call('SISMEMBER', stalled, id) == 1 then return 'stalled' end
  if redis.call('ZSCORE', delayed, id) then return 'delayed' end
  return 'available'
end

-- A claim's record in job.tokens: its token, a NUL, and the score the
-- claim last gave the job in job.claimed (its claim time, or its last
-- extension): 'N-MS.ID[@WORKER]\0SCORE' (MS: the claim time; older
-- versions wrote 'N.ID…').
local function claim_record(token, score)
  return token .. '\0' .. score
end

-- Whether the claim that `record` (from job.tokens) describes is the
-- token's and still holds: the job's score in job.claimed (`score`, or
-- nil when it is not claimed) is the one the claim gave it. A v1 client
-- ends and makes claims without knowing tokens (its finish, cancel and
-- stall only ZREM job.claimed, its claim only ZADDs it) and leaves our
-- record behind; its claim writes a score of its own, which voids ours.
local function holds(record, token, score)
  if not record or not score then return false end
  -- (Most often the score reads back as it was written: one comparison.)
  if record == token .. '\0' .. score then return true end
  local nul = string.find(record, '\0', 1, true)
  if not nul or string.sub(record, 1, nul - 1) ~= token then return false end
  return tonumber(string.sub(record, nul + 1)) == tonumber(score)
end

-- Whether a claim record is the job's current claim, whatever its token.
local function current(record, score)
  local nul = score and string.find(record, '\0', 1, true)
  return nul and tonumber(string.sub(record, nul + 1)) == tonumber(score) or false
end

-- Validation shared by finish, cancel and stall. Without a token (a v1
-- caller) the job need only be claimed. With one, it must be the job's
-- current claim (see holds): a token that is not is stale, the job having
-- been taken back (and maybe claimed again) since. Returns nil when the
-- caller may go on, else the refusal to return.
local function refuse_unless_claimed_by(items, claimed, stalled, delayed, tokens, id, token)
  local score = redis.call('ZSCORE', claimed, id)
  if token ~= '' then
    if not holds(redis.call('HGET', tokens, id), token, score) then
      return 'stale:' .. job_state(items, claimed, stalled, delayed, id)
    end
  elseif not score then
    return job_state(items, claimed, stalled, delayed, id)
  end
  return nil
end

-- The worker a claim token (or its record in job.tokens) names: tokens
-- are 'N-MS.ID' or 'N-MS.ID@WORKER' (older: 'N.ID…'; no '.' before the
-- id's), so the worker is what follows the id (an id may hold an '@' of
-- its own). nil for a claim made outside a worker.
local function claim_worker(token, id)
  local nul = string.find(token, '\0', 1, true)
  if nul then token = string.sub(token, 1, nul - 1) end
  local dot = string.find(token, '.', 1, true)
  if not dot or string.sub(token, dot + 1, dot + #id) ~= id then return nil end
  local rest = string.sub(token, dot + #id + 1)
  if string.sub(rest, 1, 1) ~= '@' then return nil end
  return string.sub(rest, 2)
end

-- job.holders:NAME indexes the claims of workers, so that recovery finds
-- a dead worker's jobs, and `workers` counts a live one's, at the cost of
-- that worker's share alone, and with no write per job: all members have
-- score 0, so that ZRANGEBYLEX finds one worker's, and each is one of
--   'WORKER\0C\0SECOND\0N\0ID\0ID…'  the ids one claim call (claim
--                                     number N) claimed, in SECOND
--   'WORKER\0H\0SECOND\0ID\0ID…'     the ids it held at its last heartbeat
-- with SECOND the server's time in whole seconds, ten digits (so that
-- text order is time order). Each claim call adds a member; each heartbeat
-- replaces the worker's H member, and drops its C members two seconds old
-- or more: their ids are in the new H member, the claims' replies having
-- reached the worker since. (A younger one's reply may still be on its
-- way, its ids in no list the worker sent yet.) A member may name jobs
-- finished or taken back since: readers check each id against its claim
-- record.
local function second_of(now)
  return string.format('%010d', math.floor(now / 1000))
end

local function claim_member(worker, now, n, member_ids)
  return worker .. '\0C\0' .. second_of(now) .. '\0' .. n .. '\0' .. table.concat(member_ids, '\0')
end

local function heartbeat_member(worker, now, member_ids)
  return worker .. '\0H\0' .. second_of(now) .. '\0' .. table.concat(member_ids, '\0')
end

-- The lex range of worker `worker`'s members of job.holders, of one kind
-- ('C', 'H') or (kind nil) both.
local function holder_range(worker, kind)
  local prefix = worker .. '\0' .. (kind and kind .. '\0' or '')
  return '[' .. prefix, '(' .. string.sub(prefix, 1, -2) .. '\1'
end

-- Where a member's ids start: after the worker, its kind, its second,
-- and (a claim call's) its claim number.
local function ids_start(worker, member)
  local fields = string.sub(member, #worker + 2, #worker + 2) == 'C' and 3 or 2
  local at = #worker + 1
  for _ = 1, fields do at = string.find(member, '\0', at + 1, true) end
  return at + 1
end

-- Of the ids that members of `worker`'s name, those whose claim it still
-- holds: the claim record is current and names it.
local function held_by(tokens, claimed, worker, members)
  local candidates, seen = {}, {}
  for _, member in ipairs(members) do
    for id in string.gmatch(string.sub(member, ids_start(worker, member)), '[^%z]+') do
      if not seen[id] then
        seen[id] = true
        candidates[#candidates + 1] = id
      end
    end
  end
  local records = ask_many('HMGET', tokens, candidates)
  local scores = ask_many('ZMSCORE', claimed, candidates)
  local held = {}
  for k = 1, #candidates do
    local id = candidates[k]
    if records[k] and current(records[k], scores[k]) and claim_worker(records[k], id) == worker then
      held[#held + 1] = id
    end
  end
  return held
end

-- A silence of Redis is not the death of its workers. When no worker's
-- heartbeat reached the queue for SILENCE ms (in server time), and a
-- worker's liveness mark ran out meanwhile, most likely Redis was what
-- stopped (frozen, restarted, failed over) while everyone waited on it:
-- for GRACE ms nothing is taken back, in which the living renew their
-- marks and leases. (A fleet that did all die is recovered GRACE later.)
-- The first heartbeat or recovery pass after the silence notes it, in
-- job.pulse:NAME; a heartbeat also notes its own time there.
-- Returns when the grace ends (server ms), or nil when there is none.
local SILENCE, GRACE = 2000, 3000
local function grace_after_silence(pulse, workers, now)
  local noted = redis.call('HMGET', pulse, 'beat', 'grace')
  local beat, grace = tonumber(noted[1]), tonumber(noted[2])
  if grace and now < grace then return grace end
  if not beat then return nil end
  -- (A clock that went back, as after a failover to another machine, is
  -- a silence of unknown length.)
  local since
  if now < beat then since = '-inf' elseif now - beat > SILENCE then since = '(' .. beat end
  if since and redis.call('ZCOUNT', workers, since, now) > 0 then
    redis.call('HSET', pulse, 'beat', now, 'grace', now + GRACE)
    return now + GRACE
  end
  return nil
end

-- A reason is kept for people to read, not to hold a payload: bounded.
local function bounded(reason)
  return string.sub(reason, 1, 2048)
end

-- A claim ended without a finish (the caller took the job out of
-- job.claimed): one more cancel, for the job and in the queue's cancel
-- counter. Past max_cancels the job is stalled instead, with the reason
-- kept, and counted as a stall too (it was both: a cancel that went to
-- stalled); returns true then, and the caller puts it nowhere else.
local function count_cancel(cancelled, stalled, published, reasons, cancels, stalls, id, max, why, stall_channel)
  redis.call('INCR', cancels)
  local count = redis.call('HINCRBY', cancelled, id, 1)
  if count <= max then return false end
  redis.call('INCR', stalls)
  redis.call('HDEL', cancelled, id)
  redis.call('SADD', stalled, id)
  redis.call('ZREM', published, id)
  redis.call('HSET', reasons, id, bounded('cancelled ' .. count .. ' times, more than max_cancels ' .. max .. ': ' .. why))
  redis.call('PUBLISH', stall_channel, id)
  return true
end
