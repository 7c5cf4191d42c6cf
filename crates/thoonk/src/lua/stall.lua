-- stall: set a claimed job aside; it is not handed out until retried.
--
-- KEYS[1] job.claimed:NAME    zset
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.stalled:NAME    set
-- KEYS[4] job.tokens:NAME     hash
-- KEYS[5] job.cancelled:NAME  hash
-- KEYS[6] job.published:NAME  zset
-- ARGV[1] id
-- ARGV[2] claim token, or ''
-- ARGV[3] channel event.job.stall:NAME
-- Returns: 1, or the refusal ('stale', 'missing', 'available', 'stalled').
-- Events:  event.job.stall:NAME with payload id.
local claimed, items, stalled, tokens, cancelled, published = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, token, channel = ARGV[1], ARGV[2], ARGV[3]

local refusal = refuse_unless_claimed_by(items, claimed, stalled, tokens, id, token)
if refusal then return refusal end

redis.call('ZREM', claimed, id)
redis.call('HDEL', tokens, id)
-- As v1: a stalled job starts its cancel count afresh when retried.
redis.call('HDEL', cancelled, id)
redis.call('SADD', stalled, id)
-- v1 meant to do this but wrote the key without its colon (flaw 4).
redis.call('ZREM', published, id)
redis.call('PUBLISH', channel, id)
return 1
