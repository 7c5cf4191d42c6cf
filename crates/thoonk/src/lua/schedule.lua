-- schedule: add a named schedule to the queue, or replace the one of that
-- name (keeping when it last fired), with its first tick.
--
-- Its record lives in job.schedules:NAME (see _schedules.lua), its next
-- tick in job.ticks:NAME: the index that every worker of the queue (and a
-- dashboard) reads for what is due (due_schedules.lua) before it fires it
-- (fire_schedule.lua). The client computes the first tick from the
-- server's time: cron arithmetic is not Lua's to do.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- KEYS[3] job.publishes:NAME  string publish counter, created (0) if
--                                    missing: it is how queues are found
--                                    (a dashboard fires what it finds)
-- ARGV[1] channel event.job.schedule:NAME
-- ARGV[2] the schedule's name (1 to 256 bytes, no NUL)
-- ARGV[3] its revision: a fresh random word (no NUL)
-- ARGV[4] its spec: `every 60s`, `every 1500ms` or a cron expression
-- ARGV[5] its zone (an IANA name)
-- ARGV[6] the item each tick publishes
-- ARGV[7] its first tick (ms), 0 .. MAX_TICK
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'ok', or 'full:MAX' when the queue has MAX_SCHEDULES schedules
--          and this name is none of them (nothing written).
-- Events:  event.job.schedule:NAME, payload the schedule's name (workers
--          wake and read the new tick).
local schedules, ticks, publishes = KEYS[1], KEYS[2], KEYS[3]
exactly(7)
local channel = ARGV[1]
local name = schedule_name(2)
local rev = record_word(3, 'a revision')
local spec = record_word(4, 'a spec')
local zone = record_word(5, 'a zone')
local item = ARGV[6]
local tick = whole(7, 0, MAX_TICK)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

local old = redis.call('HGET', schedules, name)
if not old and redis.call('HLEN', schedules) >= MAX_SCHEDULES then
  return 'full:' .. MAX_SCHEDULES
end
local last = ''
local parts = old and schedule_parts(old)
if parts then last = parts.last end
redis.call('HSET', schedules, name, table.concat({rev, spec, zone, last, item}, '\0'))
-- The tick as the client wrote it (digits): a number would go to Redis
-- through Lua's printf.
redis.call('ZADD', ticks, ARGV[7], name)
redis.call('INCRBY', publishes, 0)
redis.call('PUBLISH', channel, name)
return remembered('ok')
