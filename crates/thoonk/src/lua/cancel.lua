-- cancel: give a claimed job back. It goes to the back of the line, or to
-- delayed when a delay is given (retry later), and its cancel count grows
-- by one; once that count passes the queue's max_cancels it is stalled
-- instead, with the reason kept.
--
-- KEYS[1]  job.claimed:NAME    zset
-- KEYS[2]  job.items:NAME      hash
-- KEYS[3]  job.stalled:NAME    set
-- KEYS[4]  job.delayed:NAME    zset   id -> due time (ms)
-- KEYS[5]  job.tokens:NAME     hash
-- KEYS[6]  job.cancelled:NAME  hash   id -> times cancelled
-- KEYS[7]  job.ids:NAME        list
-- KEYS[8]  job.reasons:NAME    hash   id -> why it was last cancelled or stalled
-- KEYS[9]  job.config:NAME     hash   max_cancels
-- KEYS[10] job.published:NAME  zset   (v1 publishers record jobs here; their entries go)
-- KEYS[11] job.cancels:NAME    string cancel counter
-- KEYS[12] job.stalls:NAME     string stall counter (a cancel past max_cancels)
-- KEYS[13] job.progress:NAME   hash   id -> progress (the claim's: it goes)
-- KEYS[14] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[15] job.marked:NAME    string while no look at the marks is due
-- KEYS[16] job.tally:NAME     string cancels and stalls per minute and day (_tally.lua)
-- ARGV[1] id
-- ARGV[2] claim token, or ''
-- ARGV[3] delay in ms ('0': available at once)
-- ARGV[4] reason ('' keeps none)
-- ARGV[5] max_cancels when the queue sets none
-- ARGV[6] channel event.job.cancel:NAME
-- ARGV[7] channel event.job.delay:NAME
-- ARGV[8] channel event.job.stall:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok:available', 'ok:delayed' or 'ok:stalled' (where it went), or
--          the refusal, as finish.lua.
-- Events:  event.job.cancel:NAME, then event.job.delay:NAME when delayed;
--          event.job.stall:NAME instead when stalled. Payload: the id.
local claimed, items, stalled, delayed, tokens = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cancelled, ids, reasons, config, published = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local cancels, stalls, progress = KEYS[11], KEYS[12], KEYS[13]
local line = line_marks(KEYS[14], KEYS[15], items, claimed, stalled, delayed)
local token, reason = ARGV[2], ARGV[4]
local cancel_channel, delay_channel, stall_channel = ARGV[6], ARGV[7], ARGV[8]
exactly(8)
local id = job_id(1)
local delay = whole(3, 0, MAX_DURATION)
local max = kept_whole(redis.call('HGET', config, 'max_cancels'), 0, MAX_COUNT, whole(5, 0, MAX_COUNT))

local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end
local refusal = refuse_unless_claimed_by(items, claimed, stalled, delayed, tokens, id, token)
if refusal then return refusal end

redis.call('ZREM', claimed, id)
redis.call('HDEL', tokens, id)
redis.call('HDEL', progress, id)
local now = server_now()
if count_cancel(cancelled, stalled, published, reasons, cancels, stalls, id, max, reason, stall_channel) then
  tally(KEYS[16], now, {0, 0, 1, 1, 0})
  return remembered('ok:stalled')
end
tally(KEYS[16], now, {0, 0, 1, 0, 0})
if reason ~= '' then redis.call('HSET', reasons, id, bounded(reason)) end
redis.call('PUBLISH', cancel_channel, id)
if delay > 0 then
  redis.call('ZADD', delayed, now + delay, id)
  redis.call('PUBLISH', delay_channel, id)
  return remembered('ok:delayed')
end
redis.call('LPUSH', ids, id)
rejoined(line, {id}, now)
return remembered('ok:available')
