-- retry: put a stalled job back in the queue (at the back of the line).
-- Its last reason stays visible until it finishes.
--
-- KEYS[1] job.stalled:NAME    set
-- KEYS[2] job.items:NAME      hash
-- KEYS[3] job.claimed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[4] job.delayed:NAME    zset   (read, to name the state in a refusal)
-- KEYS[5] job.ids:NAME        list
-- KEYS[6] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[7] job.marked:NAME    string while no look at the marks is due
-- ARGV[1] id
-- ARGV[2] channel event.job.retry:NAME
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or the refusal: the state the job is in ('missing',
--          'available', 'claimed', 'delayed').
-- Events:  event.job.retry:NAME with payload id.
local stalled, items, claimed, delayed, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local line = line_marks(KEYS[6], KEYS[7], items, claimed, stalled, delayed)
local channel = ARGV[2]
exactly(2)
local id = job_id(1)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

if redis.call('SISMEMBER', stalled, id) == 0 then
  return job_state(items, claimed, stalled, delayed, id)
end

redis.call('SREM', stalled, id)
redis.call('LPUSH', ids, id)
local now = server_now()
rejoined(line, {id}, now)
redis.call('PUBLISH', channel, id)
return remembered('ok')
