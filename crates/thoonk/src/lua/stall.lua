-- stall: set a claimed job aside; it is not handed out until retried.
--
-- KEYS[1] job.claimed:NAME    zset
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.stalled:NAME    set
-- KEYS[4] job.delayed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[5] job.tokens:NAME     hash
-- KEYS[6] job.cancelled:NAME  hash
-- KEYS[7] job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[8] job.reasons:NAME    hash   id -> why it was last cancelled or stalled
-- KEYS[9] job.stalls:NAME     string stall counter
-- KEYS[10] job.progress:NAME  hash   id -> progress (the claim's: it goes)
-- KEYS[11] job.tally:NAME     string stalls per minute and day (_tally.lua)
-- ARGV[1] id
-- ARGV[2] claim token, or ''
-- ARGV[3] reason ('' keeps none)
-- ARGV[4] channel event.job.stall:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or the refusal, as finish.lua.
-- Events:  event.job.stall:NAME with payload id.
local claimed, items, stalled, delayed, tokens, cancelled, published, reasons, stalls, progress =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local token, reason, channel = ARGV[2], ARGV[3], ARGV[4]
exactly(4)
local id = job_id(1)

local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end
local refusal = refuse_unless_claimed_by(items, claimed, stalled, delayed, tokens, id, token)
if refusal then return refusal end

redis.call('ZREM', claimed, id)
redis.call('HDEL', tokens, id)
redis.call('HDEL', progress, id)
-- As v1: a stalled job starts its cancel count afresh when retried.
redis.call('HDEL', cancelled, id)
redis.call('SADD', stalled, id)
-- v1 meant to do this but wrote the key without its colon (flaw 4).
redis.call('ZREM', published, id)
if reason ~= '' then redis.call('HSET', reasons, id, bounded(reason)) end
redis.call('INCR', stalls)
tally(KEYS[11], server_now(), {0, 0, 0, 1, 0})
redis.call('PUBLISH', channel, id)
return remembered('ok')
