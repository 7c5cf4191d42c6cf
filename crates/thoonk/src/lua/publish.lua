-- publish: add jobs to the queue (one or many, all or none).
--
-- KEYS[1] job.ids:NAME        list   available ids; normal LPUSH, priority RPUSH
-- KEYS[2] job.items:NAME      hash   id -> payload
-- KEYS[3] job.published:NAME  zset   id -> publish time (ms)
-- KEYS[4] job.publishes:NAME  string publish counter
-- KEYS[5] job.awaited:NAME    hash   id -> seconds to keep the result
-- ARGV[1] now, Unix ms
-- ARGV[2] channel event.job.publish:NAME
-- ARGV[3..] per job, four values: id, payload, priority ('1'|'0'),
--           result TTL in seconds ('0': the result is not kept)
-- Returns: the number of jobs published, or {'exists', id} when an id is
--          already in the queue (or twice in the batch); nothing is written.
-- Events:  event.job.publish:NAME with payload id, per job.
local ids, items, published, publishes, awaited = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, channel = ARGV[1], ARGV[2]

-- Validate all before writing any: v1 pushed a known id a second time, so
-- one job could be handed out twice.
local seen = {}
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  if seen[id] or redis.call('HEXISTS', items, id) == 1 then
    return {'exists', id}
  end
  seen[id] = true
end

for i = 3, #ARGV, 4 do
  local id, item, priority, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', items, id, item)
  redis.call('ZADD', published, now, id)
  if ttl ~= '0' then redis.call('HSET', awaited, id, ttl) end
  if priority == '1' then
    redis.call('RPUSH', ids, id)
  else
    redis.call('LPUSH', ids, id)
  end
  redis.call('PUBLISH', channel, id)
end
redis.call('INCRBY', publishes, (#ARGV - 2) / 4)
return (#ARGV - 2) / 4
