-- cancel: give a claimed job back; it goes to the back of the line and
-- its cancel count grows by one.
--
-- KEYS[1] job.claimed:NAME    zset
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.stalled:NAME    set    (only read, to name the state in a refusal)
-- KEYS[4] job.tokens:NAME     hash
-- KEYS[5] job.cancelled:NAME  hash   id -> times cancelled
-- KEYS[6] job.ids:NAME        list
-- ARGV[1] id
-- ARGV[2] claim token, or ''
-- ARGV[3] channel event.job.cancel:NAME
-- Returns: 1, or the refusal ('stale', 'missing', 'available', 'stalled').
-- Events:  event.job.cancel:NAME with payload id.
local claimed, items, stalled, tokens, cancelled, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, token, channel = ARGV[1], ARGV[2], ARGV[3]

local refusal = refuse_unless_claimed_by(items, claimed, stalled, tokens, id, token)
if refusal then return refusal end

redis.call('ZREM', claimed, id)
redis.call('HDEL', tokens, id)
redis.call('HINCRBY', cancelled, id, 1)
redis.call('LPUSH', ids, id)
redis.call('PUBLISH', channel, id)
return 1
