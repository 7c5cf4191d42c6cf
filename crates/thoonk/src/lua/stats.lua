-- stats: a queue's counts per state and its counters, read at one instant
-- (read only). A script rather than a MULTI: on a Redis Cluster, a MULTI
-- sent to a master that lost the slot comes back aborted, and the client
-- does not learn the slot's new master from it; a script's MOVED it does.
--
-- KEYS[1]  job.ids:NAME        list
-- KEYS[2]  job.ghosts:NAME     set    (ids a retract left in job.ids: no jobs)
-- KEYS[3]  job.claimed:NAME    zset
-- KEYS[4]  job.stalled:NAME    set
-- KEYS[5]  job.delayed:NAME    zset
-- KEYS[6]  job.publishes:NAME  string
-- KEYS[7]  job.finishes:NAME   string
-- KEYS[8]  job.cancels:NAME    string
-- KEYS[9]  job.stalls:NAME     string
-- KEYS[10] job.recoveries:NAME string
-- KEYS[11] job.config:NAME     hash   (read: paused)
-- KEYS[12] job.items:NAME      hash   (read: the latency, see _marks.lua)
-- KEYS[13] job.published:NAME  zset   (read: v1 publishers' publish times)
-- KEYS[14] job.marks:NAME      zset   (read: when jobs joined the line)
-- ARGV: none.
-- Returns: {ids listed, ghosts, claimed, stalled, delayed, publishes,
--          finishes, cancels, stalls, recoveries, paused (1 or 0), the
--          latency: ms the oldest available job has waited (0: none
--          waits)} (a counter no one has counted yet: 0).
-- Events:  none.
local out = {
  redis.call('LLEN', KEYS[1]),
  redis.call('SCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('SCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
}
local counters = redis.call('MGET', KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
for i = 1, 5 do out[5 + i] = tonumber(counters[i]) or 0 end
out[11] = redis.call('HEXISTS', KEYS[11], 'paused')
out[12] = oldest_wait(KEYS[1], KEYS[12], KEYS[3], KEYS[4], KEYS[5], KEYS[13], KEYS[14], server_now())
return out
