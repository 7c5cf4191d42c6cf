-- recover: send back the jobs whose claim ran out: held past the queue's
-- lease without an extension, or held by a worker whose liveness mark ran
-- out (it died or froze). Each is counted as a cancel, and goes back to the
-- queue, or is stalled once cancelled more than max_cancels times. Any
-- worker may run this at any time, as often as it likes: no coordinator.
-- A v1 worker's claim (no token) is recovered once older than the lease.
--
-- It also does what v1 programs cannot, so that a queue whose workers are
-- all v1's still works while one of ours (a worker, a dashboard) runs: it
-- makes due delayed jobs available (v1 workers only BRPOP job.ids), and
-- sweeps, a bounded sample at a time, what v1 clients leave of ours
-- behind them: claim records of claims they ended (their finish, cancel
-- and stall know no tokens) and result marks of jobs they finished.
--
-- KEYS[1]  job.claimed:NAME    zset   id -> claim time, then last extension (ms)
-- KEYS[2]  job.tokens:NAME     hash   id -> claim record: token ('N.ID@WORKER'
--                                    for a worker's claim) NUL score
-- KEYS[3]  job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[4]  job.cancelled:NAME  hash
-- KEYS[5]  job.ids:NAME        list
-- KEYS[6]  job.stalled:NAME    set
-- KEYS[7]  job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[8]  job.reasons:NAME    hash
-- KEYS[9]  job.config:NAME     hash   lease_ms, max_cancels
-- KEYS[10] job.cancels:NAME    string cancel counter (each job taken back)
-- KEYS[11] job.stalls:NAME     string stall counter (each job past max_cancels)
-- KEYS[12] job.recoveries:NAME string recovery counter (each job taken back)
-- KEYS[13] job.items:NAME      hash   (read: whose result marks are stale)
-- KEYS[14] job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[15] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[16] job.holders:NAME    zset   'WORKER\0ID' per claim of a worker's
-- ARGV[1] now, Unix ms
-- ARGV[2] lease in ms when the queue sets none
-- ARGV[3] max_cancels when the queue sets none
-- ARGV[4] channel event.job.cancel:NAME
-- ARGV[5] channel event.job.stall:NAME
-- ARGV[6] channel event.job.due:NAME
-- Returns: {jobs sent back to the queue, jobs stalled, the lease in ms,
--          delayed jobs made available}
-- Events:  event.job.cancel:NAME or event.job.stall:NAME per job taken
--          back, payload: the id; event.job.due:NAME for the delayed jobs
--          made available, their ids joined by NUL (as claim.lua sends).
local claimed, tokens, workers, cancelled, ids, stalled, published, reasons, config =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local cancels, stalls, recoveries, items, awaited, delayed, holders =
  KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local cancel_channel, stall_channel, due_channel = ARGV[4], ARGV[5], ARGV[6]
exactly(6)
local now = whole(1, 0, MAX_TIME)
-- A setting another program wrote that is not a number (or a lease of
-- zero, which would take every claim back) falls back to the default.
local lease = kept_whole(redis.call('HGET', config, 'lease_ms'), 1, MAX_DURATION, whole(2, 1, MAX_DURATION))
local max = kept_whole(redis.call('HGET', config, 'max_cancels'), 0, MAX_COUNT, whole(3, 0, MAX_COUNT))

-- How many claim records and result marks one pass looks at for leftovers,
-- and how many dead workers' claims it takes back.
local SWEEP_SAMPLE = 20
local DEAD_WORKERS = 100

-- In order (oldest claim first), so jobs go back in the order they left.
local expired, why, n = {}, {}, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', now - lease, 'LIMIT', 0, 1000)) do
  n = n + 1
  expired[n] = id
  why[id] = 'its lease of ' .. lease .. ' ms ran out'
end
-- A dead worker's claims, from its own share of job.holders.
for _, w in ipairs(redis.call('ZRANGEBYSCORE', workers, '-inf', now, 'LIMIT', 0, DEAD_WORKERS)) do
  local lo, hi = holder_range(w)
  local held = redis.call('ZRANGEBYLEX', holders, lo, hi)
  if #held > 0 then
    local held_ids = {}
    for k = 1, #held do held_ids[k] = string.sub(held[k], #w + 2) end
    local records = ask_many('HMGET', tokens, held_ids)
    local scores = ask_many('ZMSCORE', claimed, held_ids)
    for k = 1, #held_ids do
      local id = held_ids[k]
      -- Only a claim still held: a v1 client's finish, cancel or stall
      -- leaves the record behind, and the job is elsewhere by now, or
      -- claimed again by a v1 worker, which is not ours to take back.
      if not why[id] and records[k] and current(records[k], scores[k]) then
        n = n + 1
        expired[n] = id
        why[id] = 'worker ' .. w .. ' stopped renewing its liveness mark'
      end
    end
  end
  redis.call('ZREMRANGEBYLEX', holders, lo, hi)
  redis.call('ZREM', workers, w)
end

call_many('ZREM', holders, holders_of(expired, ask_many('HMGET', tokens, expired)))
local requeued, stalled_count = 0, 0
for _, id in ipairs(expired) do
  redis.call('ZREM', claimed, id)
  redis.call('HDEL', tokens, id)
  if count_cancel(cancelled, stalled, published, reasons, cancels, stalls, id, max, why[id], stall_channel) then
    stalled_count = stalled_count + 1
  else
    redis.call('HSET', reasons, id, why[id])
    redis.call('LPUSH', ids, id)
    redis.call('PUBLISH', cancel_channel, id)
    requeued = requeued + 1
  end
end
-- Only when there was something: a pass with nothing to do writes nothing.
if n > 0 then redis.call('INCRBY', recoveries, n) end

-- Due delayed jobs, oldest first, as claim.lua promotes them.
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  call_many('ZREM', delayed, due)
  call_many('LPUSH', ids, due)
  redis.call('PUBLISH', due_channel, table.concat(due, '\0'))
end

-- Stale claim records and result marks, a sample of each (HRANDFIELD:
-- bounded whatever the queue's size; every one is met in time).
local sample = redis.call('HRANDFIELD', tokens, SWEEP_SAMPLE, 'WITHVALUES')
if #sample > 0 then
  local sampled_ids = {}
  for i = 1, #sample, 2 do sampled_ids[#sampled_ids + 1] = sample[i] end
  local scores = ask_many('ZMSCORE', claimed, sampled_ids)
  local stale, stale_records = {}, {}
  for k = 1, #sampled_ids do
    if not current(sample[2 * k], scores[k]) then
      stale[#stale + 1] = sampled_ids[k]
      stale_records[#stale_records + 1] = sample[2 * k]
    end
  end
  call_many('ZREM', holders, holders_of(stale, stale_records))
  call_many('HDEL', tokens, stale)
end
local marks = redis.call('HRANDFIELD', awaited, SWEEP_SAMPLE)
if #marks > 0 then
  local present = ask_many('HMGET', items, marks)
  local gone = {}
  for k = 1, #marks do
    if not present[k] then gone[#gone + 1] = marks[k] end
  end
  call_many('HDEL', awaited, gone)
end
return {requeued, stalled_count, lease, #due}
