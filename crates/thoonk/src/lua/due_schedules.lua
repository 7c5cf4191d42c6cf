-- due_schedules: the schedules whose tick has come, by the server's clock
-- (read only). The client computes each one's next tick from the time
-- this returns and fires it with fire_schedule.lua, which fires it only if
-- its tick is still the one read here.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- ARGV[1] most due schedules to return, 1 .. MAX_SCHEDULES
-- ARGV[2] how many of the earliest due to pass over (those the caller
--         could not fire: they stay due), 0 .. MAX_SCHEDULES
-- Returns: {now, next, then per due schedule: name, tick, head}: the
--          server's time (ms), the first tick after it ('' when there is
--          none), then the schedules due (tick <= now), earliest first,
--          each with REV\0SPEC\0ZONE of its record ('' when the record is
--          missing or not of our shape).
-- Events:  none.
local schedules, ticks = KEYS[1], KEYS[2]
exactly(2)
local limit = whole(1, 1, MAX_SCHEDULES)
local skip = whole(2, 0, MAX_SCHEDULES)
local now, stamp = server_now()
local reply = {stamp, ''}
local after = redis.call('ZRANGE', ticks, '(' .. stamp, '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
if after[2] then reply[2] = after[2] end
local due = redis.call('ZRANGE', ticks, '-inf', stamp, 'BYSCORE', 'LIMIT', skip, limit, 'WITHSCORES')
if #due == 0 then return reply end
local names = {}
for i = 1, #due, 2 do names[#names + 1] = due[i] end
local records = ask_many('HMGET', schedules, names)
for k = 1, #names do
  local parts = records[k] and schedule_parts(records[k])
  reply[#reply + 1] = names[k]
  reply[#reply + 1] = due[2 * k]
  reply[#reply + 1] = parts and parts.head or ''
end
return reply
