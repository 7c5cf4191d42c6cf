-- retract: delete a job, whatever state it is in.
--
-- KEYS[1]  job.items:NAME      hash
-- KEYS[2]  job.cancelled:NAME  hash
-- KEYS[3]  job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[4]  job.stalled:NAME    set
-- KEYS[5]  job.claimed:NAME    zset
-- KEYS[6]  job.ids:NAME        list
-- KEYS[7]  job.tokens:NAME     hash
-- KEYS[8]  job.awaited:NAME    hash
-- KEYS[9]  job.delayed:NAME    zset
-- KEYS[10] job.reasons:NAME    hash
-- ARGV[1] id
-- ARGV[2] channel event.job.retract:NAME
-- Returns: 'ok', or 'missing' when there is no such job.
-- Events:  event.job.retract:NAME with payload id.
local items, cancelled, published, stalled, claimed, ids, tokens, awaited, delayed, reasons =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local channel = ARGV[2]
exactly(2)
local id = job_id(1)

if redis.call('HDEL', items, id) == 0 then return 'missing' end

redis.call('HDEL', cancelled, id)
redis.call('ZREM', published, id)
redis.call('SREM', stalled, id)
redis.call('ZREM', claimed, id)
redis.call('ZREM', delayed, id)
-- 0: every copy, in case a v1 publisher queued the id twice (flaw 7).
redis.call('LREM', ids, 0, id)
redis.call('HDEL', tokens, id)
redis.call('HDEL', awaited, id)
redis.call('HDEL', reasons, id)
redis.call('PUBLISH', channel, id)
return 'ok'
