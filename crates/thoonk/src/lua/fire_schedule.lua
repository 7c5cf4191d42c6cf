-- fire_schedule: publish one schedule's job for one tick, and store its
-- next tick, only if its tick is still the one the client read: of the
-- processes that race to fire one tick (every worker of the queue, a
-- dashboard), one publishes and the others find the tick moved. Ticks
-- missed while nothing fired are not made up for: the client gives the
-- first tick after the server's time, so a schedule fires once on return.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record (_schedules.lua)
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- KEYS[3] job.ids:NAME        list   available ids
-- KEYS[4] job.items:NAME      hash   id -> payload
-- KEYS[5] job.publishes:NAME  string publish counter
-- KEYS[6] job.ghosts:NAME     set    ids a retract left in job.ids
-- KEYS[7] job.claimed:NAME    zset   (read: which publish marks are stale)
-- KEYS[8] job.stalled:NAME    set    (read: the same)
-- KEYS[9] job.delayed:NAME    zset   (read: the same)
-- KEYS[10] job.marks:NAME     zset   when jobs joined the line (_marks.lua)
-- KEYS[11] job.marked:NAME    string while no look at the marks is due
-- KEYS[12] job.tally:NAME     string publishes per minute and day (_tally.lua)
-- ARGV[1] channel event.job.publish:NAME
-- ARGV[2] the schedule's name
-- ARGV[3] the tick read (ms, digits)
-- ARGV[4] the revision read (REV of the record)
-- ARGV[5] the next tick (ms), after ARGV[3]
-- Then, last of all, KEYS job.request:NAME\0ID and ARGV the request id ID
-- (see _once.lua).
-- Returns: 'fired:ID' (the job NAME@TICK published); 'exists:ID' (a job
--          of that id was in the queue already: the tick moved on, nothing
--          published); 'moved' (fired by someone else, replaced or removed
--          since it was read) or 'early' (not due by the server's clock):
--          nothing written.
-- Events:  event.job.publish:NAME, payload the id, when it published.
local schedules, ticks, ids, items, publishes, ghosts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local line = line_marks(KEYS[10], KEYS[11], items, KEYS[7], KEYS[8], KEYS[9])
exactly(5)
local publish_channel = ARGV[1]
local name = schedule_name(2)
local tick = whole(3, 0, MAX_TICK)
local rev = record_word(4, 'a revision')
local next_tick = whole(5, tick + 1, MAX_TICK)
local replay = replayed() -- a second run of the same request (_once.lua)
if replay then return replay end

-- Compare and set: the tick and the record must be those read.
local score = redis.call('ZSCORE', ticks, name)
if not score or tonumber(score) ~= tick then return 'moved' end
local record = redis.call('HGET', schedules, name)
local parts = record and schedule_parts(record)
if not parts or parts.rev ~= rev then return 'moved' end
local now, stamp = server_now()
if tick > now then return 'early' end

-- The tick's job id says which tick it came from: a second guard, after
-- the compare and set, against one tick published twice.
local id = name .. '@' .. ARGV[3]
redis.call('ZADD', ticks, ARGV[5], name)
if redis.call('HEXISTS', items, id) == 1 then
  return remembered('exists:' .. id)
end
local item = string.sub(record, parts.item_at)
redis.call('HSET', schedules, name, parts.head .. '\0' .. stamp .. '\0' .. item)
-- A retracted job of the same id may have left a ghost in a long list: it
-- goes first, or the job would be queued twice (as publish.lua does).
if redis.call('SISMEMBER', ghosts, id) == 1 then
  redis.call('LREM', ids, 0, id)
  redis.call('SREM', ghosts, id)
end

-- ---- The job goes in as publish.lua puts one in: at the back of the
-- line, with its event and the publish counter. (Keep these together.)
redis.call('HSET', items, id, item)
redis.call('LPUSH', ids, id)
mark_joined(line, id, now)
redis.call('PUBLISH', publish_channel, id)
redis.call('INCRBY', publishes, 1)
tally(KEYS[12], now, {1, 0, 0, 0, 0})
-- ---- end of the publish.

return remembered('fired:' .. id)
