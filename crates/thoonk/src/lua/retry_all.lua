-- retry_all: put up to N stalled jobs back in the queue (at the back of the
-- line), as retry.lua does for one: their last reasons stay visible until
-- they finish. The caller repeats it until fewer come back: one call per
-- batch keeps Redis free for others between them, however many are
-- stalled.
--
-- KEYS[1] job.stalled:NAME    set
-- KEYS[2] job.ids:NAME        list
-- KEYS[3] job.items:NAME      hash   (read: which marks are stale, _marks.lua)
-- KEYS[4] job.claimed:NAME    zset   (read: the same)
-- KEYS[5] job.delayed:NAME    zset   (read: the same)
-- KEYS[6] job.marks:NAME      zset   when jobs joined the line (_marks.lua)
-- KEYS[7] job.marked:NAME    string while no look at the marks is due
-- ARGV[1] channel event.job.retry:NAME
-- ARGV[2] most jobs to retry (>= 1)
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: how many jobs were retried.
-- Events:  event.job.retry:NAME per job, with payload the id (as retry.lua).
local stalled, ids, items, claimed, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local line = line_marks(KEYS[6], KEYS[7], items, claimed, stalled, delayed)
local channel = ARGV[1]
exactly(2)
local most = whole(2, 1, MAX_COUNT)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local retried = redis.call('SPOP', stalled, most)
local n = #retried
if n == 0 then return 0 end

call_many('LPUSH', ids, retried)
local now = server_now()
rejoined(line, retried, now)
for k = 1, n do
  redis.call('PUBLISH', channel, retried[k])
end
return remembered(n)
