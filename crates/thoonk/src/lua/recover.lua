-- recover: send back the jobs whose claim ran out: held past the queue's
-- lease without an extension, or held by a worker whose liveness mark ran
-- out (it died or froze). Each is counted as a cancel, and goes back to the
-- queue, or is stalled once cancelled more than max_cancels times. Any
-- worker may run this at any time, as often as it likes: no coordinator.
-- A v1 worker's claim (no token) is recovered once older than the lease.
--
-- KEYS[1]  job.claimed:NAME    zset   id -> claim time, then last extension (ms)
-- KEYS[2]  job.tokens:NAME     hash   id -> token; 'N.ID@WORKER' for a worker's claim
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
-- ARGV[1] now, Unix ms
-- ARGV[2] lease in ms when the queue sets none
-- ARGV[3] max_cancels when the queue sets none
-- ARGV[4] channel event.job.cancel:NAME
-- ARGV[5] channel event.job.stall:NAME
-- Returns: {jobs sent back to the queue, jobs stalled, the lease in ms}
-- Events:  event.job.cancel:NAME or event.job.stall:NAME per job; payload: the id.
local claimed, tokens, workers, cancelled, ids, stalled, published, reasons, config =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local cancels, stalls, recoveries = KEYS[10], KEYS[11], KEYS[12]
local now, cancel_channel, stall_channel = tonumber(ARGV[1]), ARGV[4], ARGV[5]

local lease = tonumber(redis.call('HGET', config, 'lease_ms')) or tonumber(ARGV[2])
local max = tonumber(redis.call('HGET', config, 'max_cancels')) or tonumber(ARGV[3])

-- In order (oldest claim first), so jobs go back in the order they left.
local expired, why, n = {}, {}, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', now - lease, 'LIMIT', 0, 1000)) do
  n = n + 1
  expired[n] = id
  why[id] = 'its lease of ' .. lease .. ' ms ran out'
end
-- Dead workers are rare: only then is the whole tokens hash read.
local dead = redis.call('ZRANGEBYSCORE', workers, '-inf', now)
if #dead > 0 then
  local is_dead = {}
  for _, w in ipairs(dead) do is_dead[w] = true end
  local all = redis.call('HGETALL', tokens)
  for i = 1, #all, 2 do
    local w = claim_worker(all[i + 1], all[i])
    -- Only a claim still held: a v1 client's finish, cancel or stall
    -- leaves the token behind, and the job is elsewhere by now.
    if w and is_dead[w] and not why[all[i]] and redis.call('ZSCORE', claimed, all[i]) then
      n = n + 1
      expired[n] = all[i]
      why[all[i]] = 'worker ' .. w .. ' stopped renewing its liveness mark'
    end
  end
  for _, w in ipairs(dead) do redis.call('ZREM', workers, w) end
end

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
return {requeued, stalled_count, lease}
