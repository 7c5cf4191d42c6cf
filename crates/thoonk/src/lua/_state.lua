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
-- extension): 'N.ID[@WORKER]\0SCORE'.
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
-- are 'N.ID' or 'N.ID@WORKER', so the worker is what follows the id (an id
-- may hold an '@' of its own). nil for a claim made outside a worker.
local function claim_worker(token, id)
  local nul = string.find(token, '\0', 1, true)
  if nul then token = string.sub(token, 1, nul - 1) end
  local dot = string.find(token, '.', 1, true)
  if not dot or string.sub(token, dot + 1, dot + #id) ~= id then return nil end
  local rest = string.sub(token, dot + #id + 1)
  if string.sub(rest, 1, 1) ~= '@' then return nil end
  return string.sub(rest, 2)
end

-- The member of job.holders:NAME for worker `worker`'s claim of job `id`:
-- 'WORKER\0ID' (neither holds a NUL), all with score 0, so that
-- ZRANGEBYLEX finds one worker's claims and ZLEXCOUNT counts them at the
-- cost of that worker's share, not of every claim of the queue.
local function holder(worker, id)
  return worker .. '\0' .. id
end

-- The lex range of worker `worker`'s members of job.holders.
local function holder_range(worker)
  return '[' .. worker .. '\0', '(' .. worker .. '\1'
end

-- The members of job.holders of the claims of `ids` whose records (from
-- job.tokens, in the same order) name a worker.
local function holders_of(ids, records)
  local members = {}
  for k = 1, #ids do
    local w = records[k] and claim_worker(records[k], ids[k])
    if w then members[#members + 1] = holder(w, ids[k]) end
  end
  return members
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
