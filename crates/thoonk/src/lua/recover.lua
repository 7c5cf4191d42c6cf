-- recover: send back the jobs whose claim ran out: held past the queue's
-- lease without an extension, or held by a worker whose liveness mark ran
-- out (it died or froze). Each is counted as a cancel, and goes back to the
-- queue, or is stalled once cancelled more than max_cancels times. Any
-- worker may run this at any time, as often as it likes: no coordinator.
-- A v1 worker's claim (no token) is recovered once older than the lease.
-- Nothing is taken back for a grace after Redis itself was silent (frozen,
-- restarted, failed over): see grace_after_silence.
--
-- It also does what v1 programs cannot, so that a queue whose workers are
-- all v1's still works while one of ours (a worker, a dashboard) runs: it
-- makes due delayed jobs available (v1 workers only BRPOP job.ids), and
-- sweeps, a bounded sample at a time, what v1 clients leave of ours
-- behind them: claim records of claims they ended (their finish, cancel
-- and stall know no tokens), the progress of those claims, and result
-- marks of jobs they finished.
--
-- KEYS[1]  job.claimed:NAME    zset   id -> claim time, then last extension (ms)
-- KEYS[2]  job.tokens:NAME     hash   id -> claim record: token ('N-MS.ID@WORKER'
--                                    for a worker's claim) NUL score
-- KEYS[3]  job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[4]  job.cancelled:NAME  hash
-- KEYS[5]  job.ids:NAME        list
-- KEYS[6]  job.stalled:NAME    set
-- KEYS[7]  job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[8]  job.reasons:NAME    hash
-- KEYS[9]  job.config:NAME     hash   lease_ms, max_cancels, timeout_ms
-- KEYS[10] job.cancels:NAME    string cancel counter (each job taken back)
-- KEYS[11] job.stalls:NAME     string stall counter (each job past max_cancels)
-- KEYS[12] job.recoveries:NAME string recovery counter (each job taken back)
-- KEYS[13] job.items:NAME      hash   (read: whose result marks are stale)
-- KEYS[14] job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[15] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[16] job.holders:NAME    zset   workers' claim calls (see claim_member)
-- KEYS[17] job.pulse:NAME      hash   last heartbeat, grace after a silence
--                                     (see grace_after_silence)
-- KEYS[18] job.progress:NAME   hash   id -> progress (a claim's: it goes
--                                     with the claim)
-- KEYS[19] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[20] job.marked:NAME    string while no look at the marks is due
-- KEYS[21] job.tally:NAME     string cancels, stalls and recoveries per
--                                     minute and day (_tally.lua)
-- KEYS[22] job.worker_info:NAME hash worker id -> what it says of itself
--                                     (dropped with its liveness mark)
-- ARGV[1] lease in ms when the queue sets none
-- ARGV[2] max_cancels when the queue sets none
-- ARGV[3] channel event.job.cancel:NAME
-- ARGV[4] channel event.job.stall:NAME
-- ARGV[5] channel event.job.due:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: {jobs sent back to the queue, jobs stalled, the lease in ms,
--          delayed jobs made available, ms until the grace after a
--          silence ends (0: none), the queue's job timeout in ms (0:
--          none; read here so that a worker's heartbeat learns it with
--          no call of its own)}
-- Events:  event.job.cancel:NAME or event.job.stall:NAME per job taken
--          back, payload: the id; event.job.due:NAME for the delayed jobs
--          made available, their ids joined by NUL (as claim.lua sends).
local claimed, tokens, workers, cancelled, ids, stalled, published, reasons, config =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local cancels, stalls, recoveries, items, awaited, delayed, holders =
  KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local pulse, progress, worker_info = KEYS[17], KEYS[18], KEYS[22]
local line = line_marks(KEYS[19], KEYS[20], items, claimed, stalled, delayed)
local cancel_channel, stall_channel, due_channel = ARGV[3], ARGV[4], ARGV[5]
exactly(5)
-- A setting another program wrote that is not a number (or a lease of
-- zero, which would take every claim back) falls back to the default.
local lease = kept_whole(redis.call('HGET', config, 'lease_ms'), 1, MAX_DURATION, whole(1, 1, MAX_DURATION))
local max = kept_whole(redis.call('HGET', config, 'max_cancels'), 0, MAX_COUNT, whole(2, 0, MAX_COUNT))
local timeout = kept_whole(redis.call('HGET', config, 'timeout_ms'), 1, MAX_DURATION, 0)
local now = server_now()
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

-- How many claim records and result marks one pass looks at for leftovers,
-- how many dead workers it looks at, and how many of their members of
-- job.holders (see claim_member) it reads.
local SWEEP_SAMPLE = 20
local DEAD_WORKERS = 100
local DEAD_MEMBERS = 200

-- In order (oldest claim first), so jobs go back in the order they left.
local expired, why, n = {}, {}, 0
local grace_ends = grace_after_silence(pulse, workers, now)
local waiting = grace_ends ~= nil
for _, id in ipairs(waiting and {} or redis.call('ZRANGEBYSCORE', claimed, '-inf', now - lease, 'LIMIT', 0, 1000)) do
  n = n + 1
  expired[n] = id
  why[id] = 'its lease of ' .. lease .. ' ms ran out'
end
-- A dead worker's claims, from its own share of job.holders: only those
-- it still holds (held_by checks each claim record: a v1 client's finish,
-- cancel or stall leaves the record behind, and the job is elsewhere by
-- now, or claimed again by a v1 worker, which is not ours to take back).
-- A pass reads DEAD_MEMBERS of them at most (a worker that died at full
-- speed made many claim calls since its last heartbeat): the mark of a
-- worker with more stays, for the next pass.
local budget = DEAD_MEMBERS
for _, w in ipairs(waiting and {} or redis.call('ZRANGEBYSCORE', workers, '-inf', now, 'LIMIT', 0, DEAD_WORKERS)) do
  if budget == 0 then break end
  local lo, hi = holder_range(w)
  local members = redis.call('ZRANGEBYLEX', holders, lo, hi, 'LIMIT', 0, budget)
  for _, id in ipairs(held_by(tokens, claimed, w, members)) do
    if not why[id] then
      n = n + 1
      expired[n] = id
      why[id] = 'worker ' .. w .. ' stopped renewing its liveness mark'
    end
  end
  call_many('ZREM', holders, members)
  budget = budget - #members
  if budget > 0 then
    redis.call('ZREM', workers, w)
    redis.call('HDEL', worker_info, w)
  end
end

local requeued, stalled_count = 0, 0
for _, id in ipairs(expired) do
  redis.call('ZREM', claimed, id)
  redis.call('HDEL', tokens, id)
  redis.call('HDEL', progress, id)
  if count_cancel(cancelled, stalled, published, reasons, cancels, stalls, id, max, why[id], stall_channel) then
    stalled_count = stalled_count + 1
  else
    redis.call('HSET', reasons, id, why[id])
    redis.call('LPUSH', ids, id)
    rejoined(line, {id}, now)
    redis.call('PUBLISH', cancel_channel, id)
    requeued = requeued + 1
  end
end
-- Only when there was something: a pass with nothing to do writes nothing.
if n > 0 then
  redis.call('INCRBY', recoveries, n)
  tally(KEYS[21], now, {0, 0, n, stalled_count, n})
end

-- Due delayed jobs, oldest first, as claim.lua promotes them.
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  call_many('ZREM', delayed, due)
  call_many('LPUSH', ids, due)
  rejoined(line, due, now)
  redis.call('PUBLISH', due_channel, table.concat(due, '\0'))
end

-- Stale claim records and result marks, a sample of each (HRANDFIELD:
-- bounded whatever the queue's size; every one is met in time).
local sample = redis.call('HRANDFIELD', tokens, SWEEP_SAMPLE, 'WITHVALUES')
if #sample > 0 then
  local sampled_ids = {}
  for i = 1, #sample, 2 do sampled_ids[#sampled_ids + 1] = sample[i] end
  local scores = ask_many('ZMSCORE', claimed, sampled_ids)
  local stale = {}
  for k = 1, #sampled_ids do
    if not current(sample[2 * k], scores[k]) then stale[#stale + 1] = sampled_ids[k] end
  end
  call_many('HDEL', tokens, stale)
end
-- Deletes the fields of a sample of `hash` (ids) for which `ask` (HMGET,
-- ZMSCORE) of `key` finds nothing: the job they were kept for is gone.
local function sweep(hash, ask, key)
  local sample = redis.call('HRANDFIELD', hash, SWEEP_SAMPLE)
  if #sample == 0 then return end
  local found = ask_many(ask, key, sample)
  local gone = {}
  for k = 1, #sample do
    if not found[k] then gone[#gone + 1] = sample[k] end
  end
  call_many('HDEL', hash, gone)
end
-- Progress of claims a v1 client ended (the job is claimed no more), and
-- result marks of the jobs it finished.
sweep(progress, 'ZMSCORE', claimed)
sweep(awaited, 'HMGET', items)
local reply = {requeued, stalled_count, lease, #due, waiting and grace_ends - now or 0, timeout}
-- (A pass that took nothing back and promoted nothing has no effect a
-- second run could repeat: it writes nothing, not even its reply.)
if n > 0 or #due > 0 then return remembered(reply) end
return reply
