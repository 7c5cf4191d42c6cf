-- unschedule: remove a named schedule from the queue. A job it published
-- stays in the queue.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- ARGV[1] channel event.job.unschedule:NAME
-- ARGV[2] the schedule's name
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 1 when it was removed, 0 when the queue had no schedule of
--          that name (nothing written).
-- Events:  event.job.unschedule:NAME, payload the schedule's name, when
--          one was removed.
local schedules, ticks = KEYS[1], KEYS[2]
exactly(2)
local channel = ARGV[1]
local name = schedule_name(2)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local removed = redis.call('HDEL', schedules, name)
redis.call('ZREM', ticks, name)
if removed == 0 then return 0 end
redis.call('PUBLISH', channel, name)
return remembered(1)
