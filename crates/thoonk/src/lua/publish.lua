-- publish: add jobs to the queue (one or many, all or none).
--
-- KEYS[1] job.ids:NAME        list   available ids; normal LPUSH, priority RPUSH
-- KEYS[2] job.items:NAME      hash   id -> payload
-- KEYS[3] job.published:NAME  zset   id -> publish time (ms)
-- KEYS[4] job.publishes:NAME  string publish counter
-- KEYS[5] job.awaited:NAME    hash   id -> seconds to keep the result
-- KEYS[6] job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[7..] job.result:NAME\0ID per job, in ARGV order (cleared: an earlier
--           job with the same id may have left its result)
-- ARGV[1] now, Unix ms
-- ARGV[2] channel event.job.publish:NAME
-- ARGV[3] channel event.job.delay:NAME
-- ARGV[4..] per job, five values: id, payload, priority ('1'|'0'), result
--           TTL in seconds ('0': not kept), due time in ms ('0': now)
-- Returns: 'ok', or 'exists:ID' when an id is already in the queue (or twice
--          in the batch); then nothing is written.
-- Events:  event.job.publish:NAME per job, and event.job.delay:NAME per job
--          due later; payload: the id.
local ids, items, published, publishes, awaited, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, publish_channel, delay_channel = tonumber(ARGV[1]), ARGV[2], ARGV[3]

-- Validate all before writing any: v1 pushed a known id a second time, so
-- one job could be handed out twice.
local seen = {}
for i = 4, #ARGV, 5 do
  local id = ARGV[i]
  if seen[id] or redis.call('HEXISTS', items, id) == 1 then
    return 'exists:' .. id
  end
  seen[id] = true
end

for i = 4, #ARGV, 5 do
  local id, item, priority, ttl, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  redis.call('HSET', items, id, item)
  redis.call('ZADD', published, now, id)
  -- A v1 worker's finish leaves an awaited mark and a reused id finds an
  -- old result: neither may speak for this job.
  redis.call('DEL', KEYS[7 + (i - 4) / 5])
  if ttl ~= '0' then
    redis.call('HSET', awaited, id, ttl)
  else
    redis.call('HDEL', awaited, id)
  end
  redis.call('PUBLISH', publish_channel, id)
  if due > now then
    redis.call('ZADD', delayed, due, id)
    redis.call('PUBLISH', delay_channel, id)
  elseif priority == '1' then
    redis.call('RPUSH', ids, id)
  else
    redis.call('LPUSH', ids, id)
  end
end
redis.call('INCRBY', publishes, (#ARGV - 3) / 5)
return 'ok'
