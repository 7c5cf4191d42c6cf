-- finish: claimed jobs are done; delete them and hand their results on,
-- and, on a queue that keeps its finished jobs, record them (_history.lua).
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
-- KEYS[11] job.config:NAME     hash   (read: keep_finished, keep_finished_for_ms)
-- KEYS[12] job.keep:NAME       string '1' while the queue keeps finished jobs
-- KEYS[13] job.finished:NAME   zset   id -> finish time (ms) of the jobs kept
-- KEYS[14] job.history:NAME    hash   id -> record of a job kept
-- KEYS[15] job.progress:NAME   hash   id -> progress (the claim's: it goes)
-- KEYS[16] job.tally:NAME     string finishes per minute and day, and how
--                                    long the jobs ran (_tally.lua)
-- KEYS[17..] job.result:NAME\0ID per job, in ARGV order: where a kept result waits
-- ARGV[1] channel event.job.finish:NAME
-- ARGV[2..] per job, five values: id; claim token, or '' (a v1 caller
--           without one); '1' when a result is given, else '0'; the result;
--           how long its handler ran in ms, or '' when the caller does not
--           know (the history and the tally then count from the job's
--           score in job.claimed: its claim, or its lease's last
--           extension)
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: one reply per job: 'ok', or the refusal: the state the job is in
--          ('missing', 'available', 'stalled', 'delayed'), prefixed
--          'stale:' when the token is not the job's current claim (or the
--          job is no longer claimed).
-- Events:  event.job.finish:NAME per job finished, with payload id, or
--          id NUL result (as v1).
local claimed, items, stalled, delayed, tokens = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cancelled, published, finishes, awaited, reasons = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local config, keep, finished_at, history, progress = KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15]
local tally_key = KEYS[16]
local channel = ARGV[1]

-- On a queue that keeps its finished jobs, read before the finish deletes
-- what they come from (the cancel counts, the claims): the history's bounds
-- and each job's record, per job j of `finished_ids` (its group k =
-- finished[j]). nil when the settings keep nothing.
local function history_entries(finished, finished_ids, held, records, runs, now, stamp)
  local count, age = history_bounds(config)
  if not count and not age then return nil end
  local cancels = ask_many('HMGET', cancelled, finished_ids)
  local scored, kept = {}, {}
  for j = 1, #finished_ids do
    local k, id = finished[j], finished_ids[j]
    local ran, record = runs[j], records[k]
    local worker = record and current(record, held[k]) and claim_worker(record, id) or ''
    scored[2 * j - 1], scored[2 * j] = stamp, id
    kept[2 * j - 1] = id
    kept[2 * j] = history_record(ran, cancels[j] or '0', worker, ARGV[5 * k - 1], ARGV[5 * k])
  end
  return {scored = scored, records = kept, count = count, age = age, now = now}
end

-- Writes what history_entries read (a finished id kept before, finished
-- again, has its record replaced), then trims: at most TRIM_SLACK more
-- records go than came.
local function record_history(kept, n)
  call_many('ZADD', finished_at, kept.scored)
  call_many('HSET', history, kept.records)
  trim_history(finished_at, history, kept.count, kept.age, kept.now, n + TRIM_SLACK)
end

local count = in_groups(2, 5)
-- (runs: per job k, how long it ran, when the caller says.)
local job_ids, runs = {}, {}
for k = 1, count do
  -- (As publish.lua checks, calling _args.lua only when in doubt.)
  local id, has_result, ran = ARGV[5 * k - 3], ARGV[5 * k - 1], ARGV[5 * k + 1]
  if id == '' then job_id(5 * k - 3) end
  if has_result ~= '0' and has_result ~= '1' then flag(5 * k - 1) end
  if ran ~= '' then runs[k] = whole(5 * k + 1, 0, MAX_DURATION) end
  job_ids[k] = id
end
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end
local records = ask_many('HMGET', tokens, job_ids)
local held = ask_many('ZMSCORE', claimed, job_ids)

-- Validate each (as refuse_unless_claimed_by does, from the answers above).
-- (Counters, not #t + 1: the length operator searches the table.)
local replies, finished, finished_ids, n, seen = {}, {}, {}, 0, {}
for k = 1, count do
  local id, token = job_ids[k], ARGV[5 * k - 2]
  local refusal
  if seen[id] then
    refusal = 'missing' -- finished earlier in this very batch
  elseif token ~= '' and not holds(records[k], token, held[k]) then
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
-- (Most queues have no cancelled job, no reason kept, no v1 publisher, no
-- progress reported and keep no history: one EXISTS then stands for four
-- deletes that would find nothing, and for reading the history's
-- settings. EXISTS counts a key as often as it is named: the keep mark,
-- named once more than the other four together, stands out of the count.
-- Written out, not built as a table: this runs on every finish.)
local found = redis.call('EXISTS', keep, keep, keep, keep, keep, cancelled, reasons, published, progress)
local keeping, rare = found > 4, found % 5 > 0
-- How long each ran: as the caller says, else since its claim's score.
local now, stamp = server_now()
local ran = {}
for j = 1, n do
  local k = finished[j]
  ran[j] = runs[k] or math.max(0, now - tonumber(held[k]))
end
local kept
if keeping then kept = history_entries(finished, finished_ids, held, records, ran, now, stamp) end
call_many('ZREM', claimed, finished_ids)
call_many('HDEL', tokens, finished_ids)
if rare then
  call_many('HDEL', cancelled, finished_ids)
  call_many('HDEL', reasons, finished_ids)
  call_many('ZREM', published, finished_ids)
  call_many('HDEL', progress, finished_ids)
end
call_many('HDEL', items, finished_ids)
if kept then record_history(kept, n) end
-- (Only the awaited ones leave job.awaited: most jobs have no entry.)
local awaited_ids, na = {}, 0
for j = 1, n do
  local k, id = finished[j], finished_ids[j]
  local has_result, result = ARGV[5 * k - 1], ARGV[5 * k]
  if ttls[j] then
    redis.call('SET', KEYS[16 + k], has_result == '1' and ('1' .. result) or '0', 'EX', ttls[j])
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
tally(tally_key, now, {0, n, 0, 0, 0}, ran)
return remembered(replies)
