-- retract: delete a job, whatever state it is in.
--
-- An available job's id leaves a short list at once (every copy, in case a
-- v1 publisher queued it twice). From a long one it is not searched for
-- (LREM would read the whole list): it stays as a ghost, counted in
-- job.ghosts, and the claim that meets it drops it (a claim drops every id
-- without an item) and uncounts it. Counts and listings leave ghosts out.
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
-- KEYS[11] job.ghosts:NAME     set    ids left in job.ids by a retract
-- KEYS[12] job.progress:NAME   hash   id -> progress of a claimed job
-- KEYS[13] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[14] job.marked:NAME     string while no look at the marks is due
-- ARGV[1] id
-- ARGV[2] channel event.job.retract:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or 'missing' when there is no such job.
-- Events:  event.job.retract:NAME with payload id.
local items, cancelled, published, stalled, claimed, ids, tokens, awaited, delayed, reasons, ghosts =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local progress, marks, marked = KEYS[12], KEYS[13], KEYS[14]
local channel = ARGV[2]
-- A list this short is searched (LREM) at a bounded cost.
local SHORT_LIST = 1000
exactly(2)
local id = job_id(1)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

if redis.call('HDEL', items, id) == 0 then return 'missing' end

redis.call('HDEL', cancelled, id)
redis.call('ZREM', published, id)
local elsewhere = redis.call('SREM', stalled, id) + redis.call('ZREM', claimed, id)
  + redis.call('ZREM', delayed, id)
if redis.call('LLEN', ids) <= SHORT_LIST then
  -- 0: every copy, in case a v1 publisher queued the id twice (flaw 7).
  redis.call('LREM', ids, 0, id)
elseif elsewhere == 0 then
  redis.call('SADD', ghosts, id)
end
redis.call('HDEL', tokens, id)
redis.call('HDEL', progress, id)
-- A mark stays: it dates the jobs that joined after it too. Once no job
-- waits, none is needed.
if redis.call('LLEN', ids) == 0 then redis.call('DEL', marks, marked) end
redis.call('HDEL', awaited, id)
redis.call('HDEL', reasons, id)
redis.call('PUBLISH', channel, id)
return remembered('ok')
