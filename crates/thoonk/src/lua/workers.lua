-- workers: the workers alive on this queue, and how many jobs each holds
-- (read only).
--
-- A worker's claims are its share of job.holders: counting them costs a
-- lookup per live worker, not a read of every claim. (A claim a v1 client
-- ended counts until a recovery pass's sweep meets its record.)
--
-- KEYS[1] job.workers:NAME    zset   worker id -> liveness deadline (ms)
-- KEYS[2] job.holders:NAME    zset   'WORKER\0ID' per claim of a worker's
-- ARGV[1] now, Unix ms
-- Returns: flat list of worker id, liveness deadline (ms, as Redis prints
--          scores), jobs held, per worker whose deadline is after now, by
--          deadline (at most 1,000 workers).
-- Events:  none.
local workers, holders = KEYS[1], KEYS[2]
exactly(1)
local now = ARGV[1]
whole(1, 0, MAX_TIME)

local alive = redis.call('ZRANGEBYSCORE', workers, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1000)
local out = {}
for i = 1, #alive, 2 do
  local lo, hi = holder_range(alive[i])
  out[#out + 1] = alive[i]
  out[#out + 1] = alive[i + 1]
  out[#out + 1] = tostring(redis.call('ZLEXCOUNT', holders, lo, hi))
end
return out
