-- schedules: every schedule of the queue with its next tick, in one
-- snapshot (read only). Bounded: a queue has at most MAX_SCHEDULES.
--
-- KEYS[1] job.schedules:NAME  hash   schedule -> its record
-- KEYS[2] job.ticks:NAME      zset   schedule -> its next tick (ms)
-- Returns: {records, ticks}: records as HGETALL gives them (name,
--          record, …), ticks as ZRANGE WITHSCORES does (name, tick, …).
-- Events:  none.
exactly(0)
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')}
