-- retry_all: put every stalled job back in the queue at once (at the back
-- of the line, in id order, as `list` shows them), as retry.lua does for
-- one: their last reasons stay visible until they finish.
--
-- KEYS[1] job.stalled:NAME    set
-- KEYS[2] job.ids:NAME        list
-- KEYS[3] job.published:NAME  zset   id -> (re)publish time (ms)
-- ARGV[1] now, Unix ms
-- ARGV[2] channel event.job.retry:NAME
-- Returns: how many jobs were retried.
-- Events:  event.job.retry:NAME per job, with payload the id (as retry.lua).
local stalled, ids, published = KEYS[1], KEYS[2], KEYS[3]
local now, channel = ARGV[1], ARGV[2]

local retried = redis.call('SORT', stalled, 'ALPHA')
local n = #retried
if n == 0 then return 0 end

local publish_pairs = {}
for k = 1, n do
  publish_pairs[2 * k - 1] = now
  publish_pairs[2 * k] = retried[k]
end
redis.call('DEL', stalled)
-- LPUSH in id order leaves the first id nearest the right end, where
-- claims take from.
call_many('LPUSH', ids, retried)
call_many('ZADD', published, publish_pairs)
for k = 1, n do
  redis.call('PUBLISH', channel, retried[k])
end
return n
