-- outcome: where one job is, for a publisher waiting on it that may have
-- missed its events (read only, at one instant; a script rather than a
-- MULTI, for the reason stats.lua gives).
--
-- KEYS[1] job.items:NAME          hash   (the job exists while its item does)
-- KEYS[2] job.stalled:NAME        set
-- KEYS[3] job.result:NAME\0ID     string its kept result, once finished
-- ARGV[1] the job's id
-- Returns: {1 if it exists else 0, 1 if stalled else 0, the kept result or
--          false}
-- Events:  none.
local id = ARGV[1]
return {
  redis.call('HEXISTS', KEYS[1], id),
  redis.call('SISMEMBER', KEYS[2], id),
  redis.call('GET', KEYS[3]),
}
