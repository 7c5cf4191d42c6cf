-- schedules: every schedule of the queue with its next tick, in one
-- snapshot (read only). Bounded: a queue has at most MAX_SCHEDULES.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- ARGV[1] (optional) '1': leave each record's item out (what a dashboard
--         refreshing every few seconds needs: a record's item may be a
--         MiB, times MAX_SCHEDULES). A record is one hash field and Redis
--         reads no part of one, so a large record is still copied once
--         into the script, but only its head (spec, zone, last run) is
--         returned.
-- Returns: {records, ticks}: records as HGETALL gives them (name,
--          record, …), ticks as ZRANGE WITHSCORES does (name, tick, …).
-- Events:  none.
if #ARGV > 0 then exactly(1) end
local ticks = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
if #ARGV == 0 then return {redis.call('HGETALL', KEYS[1]), ticks} end
one_of(1, '1')
local out = {}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  local record = redis.call('HGET', KEYS[1], name)
  -- The head is the record up to its fourth NUL: rev, spec, zone, last.
  local stop = 0
  for _ = 1, 4 do
    stop = string.find(record, '\0', stop + 1, true)
    if not stop then break end
  end
  out[#out + 1] = name
  out[#out + 1] = stop and string.sub(record, 1, stop) or record
end
return {out, ticks}
