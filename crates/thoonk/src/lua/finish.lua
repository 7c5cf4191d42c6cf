-- finish: claimed jobs are done; delete them and hand their results on.
-- One job or many: a worker collects its finishes for a moment and sends
-- them in one call. Each job is checked and finished on its own; one
-- refused job does not stop the others.
--
-- KEYS[1]  job.claimed:NAME    zset
-- KEYS[2]  job.items:NAME      hash
-- KEYS[3]  job.stalled:NAME    set    (read, to name the state in a refusal)
-- KEYS[4]  job.delayed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[5]  job.tokens:NAME     hash
-- KEYS[6]  job.cancelled:NAME  hash
-- KEYS[7]  job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[8]  job.finishes:NAME   string finish counter
-- KEYS[9]  job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[10] job.reasons:NAME    hash   id -> why it was last cancelled or stalled
-- KEYS[11] job.progress:NAME   hash   id -> progress (the claim's: it goes)
-- KEYS[12..] job.result:NAME\0ID per job, in ARGV order: where a kept result waits
-- ARGV[1] channel event.job.finish:NAME
-- ARGV[2..] per job, four values: id; claim token, or '' (a v1 caller
--           without one); '1' when a result is given, else '0'; the result
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: one reply per job: 'ok', or the refusal: the state the job is in
--          ('missing', 'available', 'stalled', 'delayed'), prefixed
--          'stale:' when the token is not the job's current claim (or the
--          job is no longer claimed).
-- Events:  event.job.finish:NAME per job finished, with payload id, or
--          id NUL result (as v1).
local claimed, items, stalled, delayed, tokens = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cancelled, published, finishes, awaited, reasons, progress = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local channel = ARGV[1]

local count = in_groups(2, 4)
local job_ids = {}
for k = 1, count do
  -- (As publish.lua checks, calling _args.lua only when in doubt.)
  local id, has_result = ARGV[4 * k - 2], ARGV[4 * k]
  if id == '' then job_id(4 * k - 2) end
  if has_result ~= '0' and has_result ~= '1' then flag(4 * k) end
  job_ids[k] = id
end
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end
local current = ask_many('HMGET', tokens, job_ids)
local held = ask_many('ZMSCORE', claimed, job_ids)

-- Validate each (as refuse_unless_claimed_by does, from the answers above).
-- (Counters, not #t + 1: the length operator searches the table.)
local replies, finished, finished_ids, n, seen = {}, {}, {}, 0, {}
for k = 1, count do
  local id, token = job_ids[k], ARGV[4 * k - 1]
  local refusal
  if seen[id] then
    refusal = 'missing' -- finished earlier in this very batch
  elseif token ~= '' and not holds(current[k], token, held[k]) then
    refusal = 'stale:' .. job_state(items, claimed, stalled, delayed, id)
  elseif token == '' and not held[k] then
    refusal = job_state(items, claimed, stalled, delayed, id)
  end
  if refusal then
    replies[k] = refusal
  else
    replies[k] = 'ok'
    seen[id] = true
    n = n + 1
    finished[n] = k
    finished_ids[n] = id
  end
end
if n == 0 then return replies end

-- The pub/sub message reaches only who listens at that instant (v1 flaw 5);
-- a publisher that asked for the result finds it kept after a reconnect.
-- Each TTL is checked here, before any write: one SET refused halfway
-- through would leave the batch's jobs deleted and their finishes
-- unpublished. (One that is not a number of seconds keeps nothing.)
local asked = ask_many('HMGET', awaited, finished_ids)
local ttls = {}
for j = 1, n do
  ttls[j] = asked[j] and kept_whole(asked[j], 1, MAX_DURATION / 1000, false)
end
call_many('ZREM', claimed, finished_ids)
call_many('HDEL', tokens, finished_ids)
-- (Most queues have no cancelled job, no reason kept, no v1 publisher
-- and no progress reported: one EXISTS then stands for four deletes that
-- would find nothing.)
if redis.call('EXISTS', cancelled, reasons, published, progress) > 0 then
  call_many('HDEL', cancelled, finished_ids)
  call_many('HDEL', reasons, finished_ids)
  call_many('ZREM', published, finished_ids)
  call_many('HDEL', progress, finished_ids)
end
call_many('HDEL', items, finished_ids)
-- (Only the awaited ones leave job.awaited: most jobs have no entry.)
local awaited_ids, na = {}, 0
for j = 1, n do
  local k, id = finished[j], finished_ids[j]
  local has_result, result = ARGV[4 * k], ARGV[4 * k + 1]
  if ttls[j] then
    redis.call('SET', KEYS[11 + k], has_result == '1' and ('1' .. result) or '0', 'EX', ttls[j])
  end
  if asked[j] then
    na = na + 1
    awaited_ids[na] = id
  end
  if has_result == '1' then
    redis.call('PUBLISH', channel, id .. '\0' .. result)
  else
    redis.call('PUBLISH', channel, id)
  end
end
call_many('HDEL', awaited, awaited_ids)
redis.call('INCRBY', finishes, n)
return remembered(replies)
