-- due: how long until the queue's first delayed job falls due (read only),
-- by the server's clock, which decides it (claim.lua and recover.lua make
-- it available then).
--
-- KEYS[1] job.delayed:NAME    zset   id -> due time (ms)
-- Returns: ms until the first delayed job is due (0: it is), or -1 when
--          none is delayed.
-- Events:  none.
exactly(0)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if not first[2] then return -1 end
return math.max(0, tonumber(first[2]) - server_now())
