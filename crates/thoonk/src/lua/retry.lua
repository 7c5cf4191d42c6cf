-- retry: put a stalled job back in the queue (at the back of the line).
--
-- KEYS[1] job.stalled:NAME    set
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.claimed:NAME    zset   (only read, to name the state in a refusal)
-- KEYS[4] job.ids:NAME        list
-- KEYS[5] job.published:NAME  zset   id -> (re)publish time (ms)
-- ARGV[1] id
-- ARGV[2] now, Unix ms
-- ARGV[3] channel event.job.retry:NAME
-- Returns: 1, or the refusal: the state the job is in ('missing',
--          'available', 'claimed').
-- Events:  event.job.retry:NAME with payload id.
local stalled, items, claimed, ids, published = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, now, channel = ARGV[1], ARGV[2], ARGV[3]

if redis.call('SISMEMBER', stalled, id) == 0 then
  return job_state(items, claimed, stalled, id)
end

redis.call('SREM', stalled, id)
redis.call('LPUSH', ids, id)
redis.call('ZADD', published, now, id)
redis.call('PUBLISH', channel, id)
return 1
